"""Cassandra adapter of :class:`~alpr.governance.store.AccessLogStore` (cassandra-driver,
prepared statements, keyspace from config).

One partition per chain (``chain`` = deployment/agency name), clustered by ``seq``. An append
claims the next sequence number with a lightweight transaction (``INSERT ... IF NOT EXISTS``)
so concurrent writers can never fork the chain; the loser re-reads the head and retries.
Each record chains from the recorded head (``access_log_head``), which is advanced with
``UPDATE ... IF seq = prev`` (or created with IF NOT EXISTS), so a deleted, edited or forged
tail row stays detectable after later appends.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Optional
from urllib.parse import urlparse

from .models import AccessRecord
from .store import GENESIS_HASH, RecordMaker

COLUMNS = ("seq", "ts", "username", "agency", "action", "data_elements", "purpose_code", "case_number",
           "channel", "outcome", "detail", "prev_hash", "hash")


def _ident(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", name):
        raise ValueError(f"bad Cassandra identifier {name!r}")
    return name


def schema_cql(keyspace: str) -> list[str]:
    ks = _ident(keyspace)
    return [
        f"""CREATE TABLE IF NOT EXISTS {ks}.access_log (
            chain text, seq bigint, ts double, username text, agency text, action text, data_elements text,
            purpose_code text, case_number text, channel text, outcome text, detail text, prev_hash text,
            hash text, PRIMARY KEY ((chain), seq)) WITH CLUSTERING ORDER BY (seq ASC)""",
        f"CREATE TABLE IF NOT EXISTS {ks}.access_log_head (chain text PRIMARY KEY, seq bigint, hash text)",
    ]


class CassandraAccessLogStore:
    def __init__(self, session: Any, keyspace: str, chain: str = "default", create_schema: bool = True,
                 max_retries: int = 50, cluster: Any = None, lag_wait_s: float = 2.0):
        self.session, self.keyspace, self.chain = session, _ident(keyspace), chain
        self.max_retries, self._cluster, self.lag_wait_s = max_retries, cluster, lag_wait_s
        if create_schema:
            for cql in schema_cql(self.keyspace):
                session.execute(cql)
        ks = self.keyspace
        cols = ",".join(COLUMNS)
        self._insert = session.prepare(
            f"INSERT INTO {ks}.access_log (chain,{cols}) VALUES (?,{','.join('?' * len(COLUMNS))}) IF NOT EXISTS")
        self._last = session.prepare(
            f"SELECT seq, hash FROM {ks}.access_log WHERE chain = ? ORDER BY seq DESC LIMIT 1")
        self._select = session.prepare(f"SELECT {cols} FROM {ks}.access_log WHERE chain = ? AND seq >= ?")
        self._head = session.prepare(f"SELECT seq, hash FROM {ks}.access_log_head WHERE chain = ?")
        self._head_new = session.prepare(
            f"INSERT INTO {ks}.access_log_head (chain, seq, hash) VALUES (?,?,?) IF NOT EXISTS")
        self._head_move = session.prepare(
            f"UPDATE {ks}.access_log_head SET seq = ?, hash = ? WHERE chain = ? IF seq = ?")

    @classmethod
    def from_spec(cls, spec: str, chain: str = "default") -> "CassandraAccessLogStore":
        """``host:port/keyspace`` or ``cassandra://host:port/keyspace``."""
        from cassandra.cluster import Cluster

        u = urlparse(spec if "://" in spec else f"cassandra://{spec}")
        keyspace = (u.path or "/alpr").strip("/") or "alpr"
        from alpr.connectors.auth import cassandra_auth_provider  # ALPR_CASSANDRA__* credentials

        cluster = Cluster([u.hostname or "127.0.0.1"], port=u.port or 9042, protocol_version=5,
                          auth_provider=cassandra_auth_provider())
        return cls(cluster.connect(), keyspace, chain, cluster=cluster)

    def append_access(self, make: RecordMaker) -> AccessRecord:
        """Append the next record, chained from the recorded head (as the SQLite store does),
        not from whatever row is last now: otherwise the next append would re-link (launder)
        a deleted, edited or forged tail record. A last row beyond the head is normally a
        concurrent writer between its insert and its head move: wait up to ``lag_wait_s`` for
        the head to catch up; if it does not (a crashed writer or a forged row), chain from
        the head anyway, so the stray row shows up as a break in :func:`verify_chain`."""
        lag_since: Optional[float] = None
        for attempt in range(self.max_retries):
            last = self.session.execute(self._last, (self.chain,)).one()
            head = self.session.execute(self._head, (self.chain,)).one()
            last_seq, head_seq = (last.seq if last else 0), (head.seq if head else 0)
            if head is not None and last_seq > head_seq:
                lag_since = time.monotonic() if lag_since is None else lag_since
                if time.monotonic() - lag_since < self.lag_wait_s:
                    time.sleep(min(0.02 * 2 ** attempt, 0.5))
                    continue
            seq = max(last_seq, head_seq) + 1
            prev = head.hash if head is not None else (last.hash if last else GENESIS_HASH)
            rec = make(seq, prev)
            values = [getattr(rec, c) for c in COLUMNS]
            values[COLUMNS.index("data_elements")] = json.dumps(rec.data_elements, sort_keys=True)
            if self.session.execute(self._insert, (self.chain, *values)).was_applied:
                if head is None:
                    self.session.execute(self._head_new, (self.chain, rec.seq, rec.hash))
                else:
                    res = self.session.execute(self._head_move, (rec.seq, rec.hash, self.chain, head_seq))
                    if not res.was_applied:  # head row deleted meanwhile: re-create it
                        self.session.execute(self._head_new, (self.chain, rec.seq, rec.hash))
                return rec
        raise RuntimeError(f"access log chain {self.chain!r}: could not claim a sequence number "
                           f"after {self.max_retries} attempts")

    def access_records(self, start_seq: int = 1, since_ts: Optional[float] = None,
                       until_ts: Optional[float] = None) -> list[AccessRecord]:
        out = []
        for row in self.session.execute(self._select, (self.chain, start_seq)):
            d = {c: getattr(row, c) for c in COLUMNS}
            d["data_elements"] = json.loads(d["data_elements"] or "{}")
            for c in ("username", "agency", "action", "purpose_code", "case_number", "channel", "outcome",
                      "detail", "prev_hash", "hash"):
                d[c] = d[c] or ""
            rec = AccessRecord(**d)
            if (since_ts is None or rec.ts >= since_ts) and (until_ts is None or rec.ts <= until_ts):
                out.append(rec)
        return out

    def access_head(self) -> Optional[tuple[int, str]]:
        row = self.session.execute(self._head, (self.chain,)).one()
        return (int(row.seq), row.hash) if row else None

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
