"""Storage adapters behind one port (:mod:`alpr.connectors.stores.base`)."""

from __future__ import annotations


def open_store(spec: str, cassandra=None):
    """Open a store from its spec: ``sqlite:PATH`` (``sqlite::memory:``) or
    ``cassandra://host:port/keyspace``; ``cassandra``: a ``CassandraConfig`` with the credentials
    (else the ``ALPR_CASSANDRA__*`` environment, :mod:`alpr.connectors.auth`)."""
    if spec.startswith("sqlite:"):
        from .sqlite import SqliteStore

        return SqliteStore(spec[len("sqlite:"):] or ":memory:")
    if spec.startswith("cassandra://"):
        from .cassandra import CassandraStore

        return CassandraStore.from_url(spec, cassandra)
    raise ValueError(f"unknown store spec {spec!r}: use sqlite:PATH or cassandra://host:port/keyspace")
