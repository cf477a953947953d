"""Embedded store on SQLite: the no-server default for reads, groups, alerts and hotlists.

Every time-series row carries ``expires_at``; :meth:`SqliteStore.purge_expired` deletes
rows past it (the embedded equivalent of Cassandra's TTL). Expired rows are also
filtered out of every query, so an unpurged row is never served, as with a TTL.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable, Optional

from alpr.records import Alert, DeadLetter, HotlistEntry, PlateGroup, PlateRead

from .base import DAY_S, MIN_RETENTION_DAYS, ReadQuery, check_replacement, pattern_is_exact, plate_pattern_regex

SCHEMA = """
CREATE TABLE IF NOT EXISTS reads (
    read_id TEXT PRIMARY KEY, plate TEXT NOT NULL, camera_id TEXT NOT NULL, agency TEXT NOT NULL,
    capture_ts REAL NOT NULL, expires_at REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS reads_by_plate ON reads(plate, capture_ts);
CREATE INDEX IF NOT EXISTS reads_by_camera ON reads(camera_id, capture_ts);
CREATE INDEX IF NOT EXISTS reads_expiry ON reads(expires_at);
CREATE TABLE IF NOT EXISTS plate_groups (
    group_id TEXT PRIMARY KEY, camera_id TEXT NOT NULL, agency TEXT NOT NULL, best_plate TEXT NOT NULL,
    epoch_start REAL NOT NULL, expires_at REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS groups_expiry ON plate_groups(expires_at);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, agency TEXT NOT NULL, capture_ts REAL NOT NULL,
    expires_at REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_expiry ON alerts(expires_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, stage TEXT NOT NULL, ts REAL NOT NULL,
    expires_at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotlist (
    entry_id TEXT PRIMARY KEY, list_code TEXT NOT NULL, plate TEXT NOT NULL,
    expires_at REAL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotlist_meta (k TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS agency_retention (agency TEXT PRIMARY KEY, days INTEGER NOT NULL, set_ts REAL NOT NULL);
"""


class SqliteStore:
    """ReadStore + HotlistStore on one SQLite file (``:memory:`` for tests)."""

    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.RLock()
        with self._lock:
            self._conn.executescript(SCHEMA)

    # -- helpers -----------------------------------------------------------------
    def _exec_many(self, sql: str, rows: list[tuple]) -> int:
        if not rows:
            return 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(sql, rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(rows)

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    @staticmethod
    def _expiry(ts: float, ttl_s: int) -> float:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        return ts + ttl_s

    # -- ReadStore ---------------------------------------------------------------
    def put_reads(self, reads: Iterable[PlateRead], ttl_s: int) -> int:
        now = time.time()
        rows = [(r.read_id, r.plate, r.camera_id, r.agency, r.capture_ts,
                 self._expiry(now, ttl_s), r.to_json()) for r in reads]
        return self._exec_many("INSERT OR REPLACE INTO reads VALUES (?,?,?,?,?,?,?)", rows)

    def put_groups(self, groups: Iterable[PlateGroup], ttl_s: int) -> int:
        now = time.time()
        rows = []
        for g in groups:
            exp = g.expires_at or self._expiry(now, ttl_s)
            rows.append((g.group_id, g.camera_id, g.agency, g.best_plate, g.epoch_start, exp, g.to_json()))
        return self._exec_many("INSERT OR REPLACE INTO plate_groups VALUES (?,?,?,?,?,?,?)", rows)

    def put_alerts(self, alerts: Iterable[Alert], ttl_s: int) -> int:
        now = time.time()
        rows = [(a.alert_id, a.agency, a.capture_ts, self._expiry(now, ttl_s), a.to_json()) for a in alerts]
        return self._exec_many("INSERT OR REPLACE INTO alerts VALUES (?,?,?,?,?)", rows)

    def put_dead_letters(self, letters: Iterable[DeadLetter], ttl_s: int) -> int:
        now = time.time()
        rows = [(d.stage, d.ts, self._expiry(now, ttl_s), d.to_json()) for d in letters]
        return self._exec_many(
            "INSERT INTO dead_letters(stage, ts, expires_at, body) VALUES (?,?,?,?)", rows)

    def search_reads(self, query: ReadQuery) -> list[PlateRead]:
        where, args = ["expires_at > ?"], [time.time()]
        regex = None
        if query.plate_pattern:
            pat = query.plate_pattern.upper().replace(" ", "").replace("-", "")
            if pattern_is_exact(pat):
                where.append("plate = ?")
                args.append(pat)
            else:
                regex = plate_pattern_regex(pat)
                prefix = pat.split("*")[0].split("?")[0]
                if prefix:  # index range scan on the literal prefix
                    where.append("plate >= ? AND plate < ?")
                    args += [prefix, prefix + "\uffff"]
        if query.camera_id:
            where.append("camera_id = ?")
            args.append(query.camera_id)
        if query.start_ts is not None:
            where.append("capture_ts >= ?")
            args.append(query.start_ts)
        if query.end_ts is not None:
            where.append("capture_ts <= ?")
            args.append(query.end_ts)
        if query.agencies is not None:
            if not query.agencies:
                return []
            where.append(f"agency IN ({','.join('?' * len(query.agencies))})")
            args += list(query.agencies)
        sql = f"SELECT plate, body FROM reads WHERE {' AND '.join(where)} ORDER BY capture_ts"
        out = []
        for plate, body in self._query(sql, tuple(args)):
            if regex is not None and not regex.match(plate):
                continue
            out.append(PlateRead.from_json(body))
            if len(out) >= query.limit:
                break
        return out

    def get_groups(self, camera_id: Optional[str] = None, start_ts: Optional[float] = None,
                   end_ts: Optional[float] = None) -> list[PlateGroup]:
        where, args = ["expires_at > ?"], [time.time()]
        if camera_id:
            where.append("camera_id = ?")
            args.append(camera_id)
        if start_ts is not None:
            where.append("epoch_start >= ?")
            args.append(start_ts)
        if end_ts is not None:
            where.append("epoch_start <= ?")
            args.append(end_ts)
        rows = self._query(
            f"SELECT body, expires_at FROM plate_groups WHERE {' AND '.join(where)} ORDER BY epoch_start",
            tuple(args))
        out = []
        for body, exp in rows:
            g = PlateGroup.from_json(body)
            out.append(g if g.expires_at else PlateGroup.from_dict({**g.to_dict(), "expires_at": exp}))
        return out

    def get_alerts(self, agency: Optional[str] = None) -> list[Alert]:
        if agency:
            rows = self._query("SELECT body FROM alerts WHERE agency = ? AND expires_at > ? ORDER BY capture_ts",
                               (agency, time.time()))
        else:
            rows = self._query("SELECT body FROM alerts WHERE expires_at > ? ORDER BY capture_ts", (time.time(),))
        return [Alert.from_json(b) for (b,) in rows]

    def get_dead_letters(self) -> list[DeadLetter]:
        return [DeadLetter.from_json(b) for (b,) in self._query("SELECT body FROM dead_letters ORDER BY id")]

    def read_expiry(self, read_id: str) -> Optional[float]:
        rows = self._query("SELECT expires_at FROM reads WHERE read_id = ?", (read_id,))
        return rows[0][0] if rows else None

    def purge_expired(self, now: Optional[float] = None) -> int:
        now = time.time() if now is None else now
        total = 0
        with self._lock:
            for table in ("reads", "plate_groups", "alerts", "dead_letters"):
                total += self._conn.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,)).rowcount
        return total

    # -- retention (RetentionStore) ----------------------------------------------
    def agency_retention_days(self, agency: str) -> Optional[int]:
        rows = self._query("SELECT days FROM agency_retention WHERE agency = ?", (agency,))
        return int(rows[0][0]) if rows else None

    def set_agency_retention(self, agency: str, days: int, now: Optional[float] = None) -> int:
        days = int(days)
        if days < MIN_RETENTION_DAYS:
            raise ValueError(f"retention {days} days is below the {MIN_RETENTION_DAYS}-day floor")
        now = time.time() if now is None else now
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("INSERT INTO agency_retention VALUES (?,?,?) ON CONFLICT(agency) DO UPDATE "
                                   "SET days = excluded.days, set_ts = excluded.set_ts", (agency, days, now))
                n = 0
                for table, ts_col in (("reads", "capture_ts"), ("alerts", "capture_ts"),
                                      ("plate_groups", "epoch_start")):
                    n += self._conn.execute(f"UPDATE {table} SET expires_at = {ts_col} + ? WHERE agency = ? "
                                            f"AND expires_at != {ts_col} + ?",
                                            (days * DAY_S, agency, days * DAY_S)).rowcount
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return n

    def purge_past_retention(self, now: Optional[float] = None, default_days: int = MIN_RETENTION_DAYS) -> int:
        now = time.time() if now is None else now
        default_days = max(int(default_days), MIN_RETENTION_DAYS)
        total = 0
        with self._lock:
            set_days = dict(self._conn.execute("SELECT agency, days FROM agency_retention").fetchall())
            agencies = {a for (a,) in self._conn.execute("SELECT DISTINCT agency FROM reads UNION "
                                                         "SELECT DISTINCT agency FROM alerts").fetchall()}
            for agency in agencies:
                cutoff = now - max(int(set_days.get(agency, default_days)), MIN_RETENTION_DAYS) * DAY_S
                total += self._conn.execute("DELETE FROM reads WHERE agency = ? AND capture_ts <= ?",
                                            (agency, cutoff)).rowcount
                total += self._conn.execute("DELETE FROM alerts WHERE agency = ? AND capture_ts <= ?",
                                            (agency, cutoff)).rowcount
                total += self._conn.execute("DELETE FROM plate_groups WHERE agency = ? AND epoch_start <= ?",
                                            (agency, cutoff)).rowcount
        return total

    # -- HotlistStore ------------------------------------------------------------
    def _bump_version(self) -> None:
        self._conn.execute(
            "INSERT INTO hotlist_meta(k, version) VALUES ('hotlist', 1) "
            "ON CONFLICT(k) DO UPDATE SET version = version + 1")

    def _write_entries(self, entries: Iterable[HotlistEntry], delete_list: Optional[tuple[str, str]] = None) -> int:
        rows = [(e.entry_id, e.list_code, e.plate, e.expires_at, e.to_json()) for e in entries]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if delete_list is not None:  # (list code, owning agency): one agency's list only
                    self._conn.execute("DELETE FROM hotlist WHERE list_code = ? "
                                       "AND COALESCE(json_extract(body, '$.agency'), '') = ?", delete_list)
                self._conn.executemany("INSERT OR REPLACE INTO hotlist VALUES (?,?,?,?,?)", rows)
                self._bump_version()
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(rows)

    def upsert_entries(self, entries: Iterable[HotlistEntry]) -> int:
        return self._write_entries(entries)

    def replace_list(self, list_code: str, entries: Iterable[HotlistEntry], agency: str = "") -> int:
        return self._write_entries(check_replacement(list_code, agency, entries), delete_list=(list_code, agency or ""))

    def remove_entries(self, entry_ids: Iterable[str]) -> int:
        ids = [(i,) for i in entry_ids]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                n = 0
                for row in ids:
                    n += self._conn.execute("DELETE FROM hotlist WHERE entry_id = ?", row).rowcount
                self._bump_version()
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return n

    def load_entries(self, now: Optional[float] = None) -> list[HotlistEntry]:
        now = time.time() if now is None else now
        rows = self._query("SELECT body FROM hotlist WHERE expires_at IS NULL OR expires_at > ?", (now,))
        return [HotlistEntry.from_json(b) for (b,) in rows]

    def expired_entries(self, now: Optional[float] = None) -> list[HotlistEntry]:
        now = time.time() if now is None else now
        return [HotlistEntry.from_json(b) for (b,) in self._query("SELECT body FROM hotlist WHERE expires_at <= ?", (now,))]

    def hotlist_version(self) -> int:
        rows = self._query("SELECT version FROM hotlist_meta WHERE k = 'hotlist'")
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

