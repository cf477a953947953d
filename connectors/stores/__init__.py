"""Storage adapters behind one port (:mod:`alpr.connectors.stores.base`)."""

from __future__ import annotations


def open_store(spec: str):
    """Open a store from its spec: ``sqlite:PATH`` (``sqlite::memory:``) or
    ``cassandra://host:port/keyspace``."""
    if spec.startswith("sqlite:"):
        from .sqlite import SqliteStore

        return SqliteStore(spec[len("sqlite:"):] or ":memory:")
    if spec.startswith("cassandra://"):
        from .cassandra import CassandraStore

        return CassandraStore.from_url(spec)
    raise ValueError(f"unknown store spec {spec!r}: use sqlite:PATH or cassandra://host:port/keyspace")
