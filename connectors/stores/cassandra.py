"""Cassandra adapter of the storage port (schema: ``infra/cassandra/schema.cql``).

Writes use prepared statements with ``USING TTL ?`` and run concurrently (``execute_concurrent``;
a read's three table rows go in one pass); a failed write is retried with backoff and then raised,
so the Beam bundle fails and is retried instead of losing rows. By default that is
``retries`` attempts (3 to 6 s of backoff: delays 0.2 s doubling to at most 5 s, each with
equal jitter, :class:`alpr.backoff.RetryPacer`); ``retry_budget_s`` (URL query
``cassandra://h:p/ks?retry_budget_s=120``) instead keeps retrying writes, the initial
connect and queries for that many seconds, so a pipeline rides out a Cassandra restart
instead of failing the bundle. The driver reconnects to a node that was down every
``reconnect_max_s`` at most (its default backs off to 10 minutes). A store logs one warning
when Cassandra starts failing and one line when it works again, not one per attempt. Expiry is Cassandra's TTL:
``purge_expired`` has nothing to delete (it returns 0), expired cells are never served. The
per-agency retention (table ``agency_retention``) re-TTLs an agency's rows when it changes
(:meth:`set_agency_retention`), and :meth:`purge_past_retention` deletes rows whose capture time
is past their agency's retention whatever TTL they were written with (maintenance job).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Callable, Iterable, Optional
from urllib.parse import parse_qs, urlparse

from alpr.backoff import RetryPacer
from alpr.observability.metrics import record_store_retry
from alpr.records import Alert, Candidate, DeadLetter, HotlistEntry, PlateGroup, PlateRead, stable_id

from .base import ReadQuery, check_replacement, pattern_is_exact, plate_pattern_regex
from .cassandra_retention import CassandraRetention

log = logging.getLogger(__name__)

READ_COLS = ("read_id", "frame_id", "camera_id", "agency", "capture_ts", "plate", "confidence",
             "coordinates", "candidates", "img_width", "img_height", "seq", "processing_time_ms",
             "region", "region_confidence", "detector", "recognizer")
GROUP_COLS = ("group_id", "camera_id", "agency", "epoch_start", "epoch_end", "frame_start", "frame_end",
              "best_plate", "best_confidence", "best_read_id", "candidates", "read_ids", "num_reads",
              "expires_at")
ALERT_COLS = ("alert_id", "group_id", "camera_id", "agency", "capture_ts", "read_plate", "entry_plate",
              "entry_id", "list_code", "list_name", "match_type", "distance", "priority", "covert",
              "description", "case_number", "entry_source", "entry_agency", "aligned", "confidence",
              "emitted_ts", "state")
HOTLIST_COLS = ("entry_id", "plate", "list_code", "state", "list_name", "priority", "description",
                "case_number", "expires_at", "covert", "source", "match_strategy", "agency", "shared_with",
                "fuzzy", "max_ocr_subs", "max_edits", "clets_derived", "created_ts")
MONTHS_BACK = 13  # plate lookups without a time range cover the retention period


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def _month(ts: float) -> str:
    return _utc(ts).strftime("%Y-%m")


def _day(ts: float) -> dt.date:
    return _utc(ts).date()


def _months(start: float, end: float) -> list[str]:
    out, d = [], _utc(start).replace(day=1)
    last = _utc(end)
    while (d.year, d.month) <= (last.year, last.month):
        out.append(d.strftime("%Y-%m"))
        d = (d + dt.timedelta(days=32)).replace(day=1)
    return out


def _days(start: float, end: float) -> list[dt.date]:
    d0, d1 = _day(start), _day(end)
    return [d0 + dt.timedelta(days=i) for i in range((d1 - d0).days + 1)]


def _ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,47}", name):
        raise ValueError(f"invalid keyspace name {name!r}")
    return name


class CassandraStore(CassandraRetention):
    """ReadStore + HotlistStore (+ RetentionStore) on Cassandra 5.0."""

    def __init__(self, hosts: list[str], port: int = 9042, keyspace: str = "alpr",
                 concurrency: int = 64, retries: int = 5, connect_timeout_s: float = 10.0,
                 retry_budget_s: float = 0.0, reconnect_max_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 credentials=None):
        """``sleep`` and ``clock`` pace the retries (replaceable in tests); ``credentials``: a
        ``CassandraConfig`` (else the ``ALPR_CASSANDRA__*`` environment)."""
        from alpr.connectors.auth import cassandra_auth_provider

        from cassandra.cluster import Cluster
        from cassandra.policies import ExponentialReconnectionPolicy, RoundRobinPolicy

        if retry_budget_s < 0 or reconnect_max_s <= 0:
            raise ValueError("retry_budget_s must be >= 0 and reconnect_max_s > 0")
        self.keyspace = _ident(keyspace)
        self.concurrency, self.retries, self.retry_budget_s = concurrency, retries, float(retry_budget_s)
        self._pacer = RetryPacer("cassandra", log, base_s=0.2, cap_s=5.0, jitter=0.5, sleep=sleep, clock=clock)
        self._cluster = Cluster(hosts, port=port, load_balancing_policy=RoundRobinPolicy(),
                                connect_timeout=connect_timeout_s, protocol_version=5,
                                reconnection_policy=ExponentialReconnectionPolicy(0.5, reconnect_max_s),
                                auth_provider=cassandra_auth_provider(credentials))
        self._session = self._retrying(lambda: self._cluster.connect(self.keyspace), "connect")
        self._ps: dict[str, object] = {}

    @classmethod
    def from_url(cls, url: str, credentials=None) -> "CassandraStore":
        """``cassandra://host:port/keyspace[?retry_budget_s=S&retries=N&reconnect_max_s=S]``."""
        u = urlparse(url)
        if u.scheme != "cassandra" or not u.hostname:
            raise ValueError(f"bad Cassandra URL {url!r}: use cassandra://host:port/keyspace")
        keyspace = (u.path or "/alpr").strip("/") or "alpr"
        kw: dict = {}
        for key, values in parse_qs(u.query, keep_blank_values=True).items():
            if key not in ("retry_budget_s", "retries", "reconnect_max_s"):
                raise ValueError(f"bad Cassandra URL {url!r}: unknown option {key!r} "
                                 "(retry_budget_s, retries, reconnect_max_s)")
            try:
                kw[key] = int(values[-1]) if key == "retries" else float(values[-1])
            except ValueError as exc:
                raise ValueError(f"bad Cassandra URL {url!r}: {key} must be a number") from exc
        return cls([u.hostname], port=u.port or 9042, keyspace=keyspace, credentials=credentials, **kw)

    def _retrying(self, fn, what: str):
        """``fn()``, retried on connection-level failures while ``retry_budget_s`` lasts."""
        from cassandra import OperationTimedOut, Unavailable
        from cassandra.cluster import NoHostAvailable

        pacer = self._pacer
        t0, schedule = pacer.clock(), pacer.backoff()
        while True:
            try:
                result = fn()
            except (NoHostAvailable, OperationTimedOut, Unavailable) as exc:
                if pacer.clock() - t0 >= self.retry_budget_s:
                    raise
                record_store_retry("cassandra", what, 1)
                pacer.failed(schedule, what, exc)
                continue
            pacer.succeeded(what)
            return result

    # -- plumbing ----------------------------------------------------------------
    def _prep(self, cql: str):
        ps = self._ps.get(cql)
        if ps is None:
            ps = self._ps[cql] = self._session.prepare(cql)
        return ps

    def _write(self, cql: str, rows: list[tuple]) -> int:
        return self._write_many([(cql, rows)])

    def _write_many(self, writes: list[tuple[str, list[tuple]]]) -> int:
        """Rows of one or more statements (``[(cql, rows), ...]``) in one concurrent pass
        (``execute_concurrent``, at most ``concurrency`` in flight); the failed rows are retried
        together with backoff while ``retries`` / ``retry_budget_s`` allow, then it raises."""
        from cassandra.concurrent import execute_concurrent

        writes = [(cql, rows) for cql, rows in writes if rows]
        if not writes:
            return 0
        # a cached statement proves nothing about the server: only a real prepare goes through _retrying
        stmts = [self._ps.get(cql) or self._retrying(lambda cql=cql: self._prep(cql), "prepare") for cql, _ in writes]
        tables = [next(iter(re.findall(r"(?:INTO|FROM)\s+(\w+)", cql)), "unknown") for cql, _ in writes]
        what = "write to " + ", ".join(dict.fromkeys(tables))
        pending = [(i, args) for i, (_, rows) in enumerate(writes) for args in rows]
        total = len(pending)
        pacer = self._pacer
        t0, schedule = pacer.clock(), pacer.backoff()
        while True:
            results = execute_concurrent(self._session, [(stmts[i], args) for i, args in pending],
                                         concurrency=self.concurrency, raise_on_first_error=False)
            failed = [p for p, (ok, _res) in zip(pending, results) if not ok]
            if not failed:
                pacer.succeeded(what)
                return total
            errors = [res for ok, res in results if not ok]
            attempt = schedule.attempt
            if attempt >= self.retries and pacer.clock() - t0 >= self.retry_budget_s:
                raise RuntimeError(f"cassandra: {len(failed)} write(s) failed after {attempt} retries "
                                   f"({pacer.clock() - t0:.0f}s): {errors[0]}")
            for table in dict.fromkeys(tables):
                n = sum(1 for i, _ in failed if tables[i] == table)
                if n:
                    record_store_retry("cassandra", table, n)
            pacer.failed(schedule, f"{what} ({len(failed)} row(s))", errors[0])
            pending = failed

    def _rows(self, cql: str, args: tuple = ()):
        return self._retrying(lambda: self._session.execute(self._prep(cql), args), "query")

    # -- ReadStore ---------------------------------------------------------------
    def put_reads(self, reads: Iterable[PlateRead], ttl_s: int) -> int:
        reads = list(reads)
        ttl = int(ttl_s)
        if ttl <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        cols = ", ".join(READ_COLS)
        marks = ", ".join("?" * len(READ_COLS))
        by_plate, by_cam, by_id = [], [], []
        for r in reads:
            vals = (r.read_id, r.frame_id, r.camera_id, r.agency, r.capture_ts, r.plate, r.confidence,
                    [tuple(p) for p in r.coordinates], [(c.plate, c.confidence) for c in r.candidates],
                    r.img_width, r.img_height, r.seq, r.processing_time_ms,
                    r.region, r.region_confidence, r.detector, r.recognizer)
            when = _utc(r.capture_ts)
            by_plate.append((_month(r.capture_ts), when, *vals, ttl))
            by_cam.append((_day(r.capture_ts), when, *vals, ttl))
            by_id.append((r.read_id, r.plate, _month(r.capture_ts), r.camera_id, _day(r.capture_ts), when,
                          r.agency, r.capture_ts, ttl))
        # the three tables' rows in one concurrent pass: a call of a few reads (the job writes one
        # recognition batch per call) waits for one round of replies, not three in a row
        self._write_many([
            (f"INSERT INTO reads_by_plate (month, read_ts, {cols}) VALUES (?, ?, {marks}) USING TTL ?", by_plate),
            (f"INSERT INTO reads_by_camera_day (day, read_ts, {cols}) VALUES (?, ?, {marks}) USING TTL ?", by_cam),
            ("INSERT INTO reads_by_id (read_id, plate, month, camera_id, day, read_ts, agency, capture_ts) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?", by_id)])
        return len(reads)

    def put_groups(self, groups: Iterable[PlateGroup], ttl_s: int) -> int:
        rows = []
        now = time.time()
        for g in groups:
            rows.append((_day(g.epoch_start), _utc(g.epoch_start), g.group_id, g.camera_id, g.agency, g.epoch_start,
                         g.epoch_end, g.frame_start, g.frame_end, g.best_plate, g.best_confidence,
                         g.best_read_id, [(c.plate, c.confidence) for c in g.candidates], list(g.read_ids),
                         g.num_reads, g.expires_at or now + ttl_s, int(ttl_s)))
        cols = ", ".join(GROUP_COLS)
        return self._write(f"INSERT INTO plate_groups (day, start_ts, {cols}) VALUES (?, ?, "
                           f"{', '.join('?' * len(GROUP_COLS))}) USING TTL ?", rows)

    def put_alerts(self, alerts: Iterable[Alert], ttl_s: int) -> int:
        rows = [(_day(a.capture_ts), _utc(a.capture_ts), *(getattr(a, c) for c in ALERT_COLS), int(ttl_s))
                for a in alerts]
        cols = ", ".join(ALERT_COLS)
        return self._write(f"INSERT INTO alerts (day, alert_ts, {cols}) VALUES (?, ?, "
                           f"{', '.join('?' * len(ALERT_COLS))}) USING TTL ?", rows)

    def put_dead_letters(self, letters: Iterable[DeadLetter], ttl_s: int) -> int:
        rows = [(d.stage, _day(d.ts), _utc(d.ts), stable_id("dl", d.stage, d.key, d.ts, d.reason), d.reason, d.key,
                 d.ts, d.payload, d.detail, int(ttl_s)) for d in letters]
        return self._write("INSERT INTO dead_letters (stage, day, dl_ts, dl_id, reason, key, ts, payload, detail) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?", rows)

    @staticmethod
    def _read(row) -> PlateRead:
        return PlateRead(read_id=row.read_id, frame_id=row.frame_id, camera_id=row.camera_id, agency=row.agency,
                         capture_ts=row.capture_ts, plate=row.plate, confidence=row.confidence,
                         coordinates=tuple(tuple(p) for p in row.coordinates or ()),
                         candidates=tuple(Candidate(p, c) for p, c in row.candidates or ()),
                         img_width=row.img_width or 0, img_height=row.img_height or 0, seq=row.seq or 0,
                         processing_time_ms=row.processing_time_ms or 0.0,
                         region=getattr(row, "region", None) or "",
                         region_confidence=getattr(row, "region_confidence", None) or 0.0,
                         detector=getattr(row, "detector", None) or "", recognizer=getattr(row, "recognizer", None) or "")

    def search_reads(self, query: ReadQuery) -> list[PlateRead]:
        end = query.end_ts if query.end_ts is not None else time.time() + 86_400
        start = query.start_ts if query.start_ts is not None else end - MONTHS_BACK * 31 * 86_400
        lo, hi = _utc(start), _utc(end)
        cols = ", ".join(READ_COLS)
        rows: list = []
        pattern = (query.plate_pattern or "").upper().replace(" ", "").replace("-", "")
        if pattern and pattern_is_exact(pattern):
            for month in _months(start, end):
                rows += list(self._rows(f"SELECT {cols} FROM reads_by_plate WHERE plate = ? AND month = ? "
                                        "AND read_ts >= ? AND read_ts <= ?", (pattern, month, lo, hi)))
        elif query.camera_id:
            for day in _days(start, end):
                rows += list(self._rows(f"SELECT {cols} FROM reads_by_camera_day WHERE camera_id = ? AND day = ? "
                                        "AND read_ts >= ? AND read_ts <= ?", (query.camera_id, day, lo, hi)))
        else:  # wildcard search without a camera: token-range scan, filtered here
            rows = list(self._rows(f"SELECT {cols} FROM reads_by_camera_day WHERE read_ts >= ? AND read_ts <= ? "
                                   "ALLOW FILTERING", (lo, hi)))
        regex = plate_pattern_regex(pattern) if pattern and not pattern_is_exact(pattern) else None
        agencies = set(query.agencies) if query.agencies is not None else None
        out = []
        for row in sorted(rows, key=lambda r: (r.capture_ts, r.read_id)):
            if regex is not None and not regex.match(row.plate):
                continue
            if query.camera_id and row.camera_id != query.camera_id:
                continue
            if agencies is not None and row.agency not in agencies:
                continue
            out.append(self._read(row))
            if len(out) >= query.limit:
                break
        return out

    def get_groups(self, camera_id: Optional[str] = None, start_ts: Optional[float] = None,
                   end_ts: Optional[float] = None) -> list[PlateGroup]:
        cols = ", ".join(GROUP_COLS)
        if camera_id and start_ts is not None and end_ts is not None:
            rows = []
            for day in _days(start_ts, end_ts):
                rows += list(self._rows(f"SELECT {cols} FROM plate_groups WHERE camera_id = ? AND day = ? "
                                        "AND start_ts >= ? AND start_ts <= ?",
                                        (camera_id, day, _utc(start_ts), _utc(end_ts))))
        else:
            rows = list(self._rows(f"SELECT {cols} FROM plate_groups"))
        out = []
        for r in rows:
            if camera_id and r.camera_id != camera_id:
                continue
            if start_ts is not None and r.epoch_start < start_ts or end_ts is not None and r.epoch_start > end_ts:
                continue
            out.append(PlateGroup(
                group_id=r.group_id, camera_id=r.camera_id, agency=r.agency, epoch_start=r.epoch_start,
                epoch_end=r.epoch_end, frame_start=r.frame_start, frame_end=r.frame_end, best_plate=r.best_plate,
                best_confidence=r.best_confidence, best_read_id=r.best_read_id,
                candidates=tuple(Candidate(p, c) for p, c in r.candidates or ()), read_ids=tuple(r.read_ids or ()),
                num_reads=r.num_reads, expires_at=r.expires_at))
        return sorted(out, key=lambda g: g.epoch_start)

    def get_alerts(self, agency: Optional[str] = None) -> list[Alert]:
        cols = ", ".join(ALERT_COLS)
        rows = self._rows(f"SELECT {cols} FROM alerts")
        out = [Alert(**{c: getattr(r, c) for c in ALERT_COLS}) for r in rows if not agency or r.agency == agency]
        return sorted(out, key=lambda a: a.capture_ts)

    def get_dead_letters(self) -> list[DeadLetter]:
        rows = self._rows("SELECT stage, reason, key, ts, payload, detail FROM dead_letters")
        return sorted((DeadLetter(r.stage, r.reason, r.key, r.ts, r.payload or b"", r.detail or "") for r in rows),
                      key=lambda d: d.ts)

    def read_expiry(self, read_id: str) -> Optional[float]:
        row = self._rows("SELECT TTL(plate) AS ttl FROM reads_by_id WHERE read_id = ?", (read_id,)).one()
        if row is None or row.ttl is None:
            return None
        return time.time() + row.ttl

    def purge_expired(self, now: Optional[float] = None) -> int:
        return 0  # TTL expiry: Cassandra drops expired cells itself

    # -- HotlistStore ------------------------------------------------------------
    def _bump_version(self, delta_entries: int = 0) -> None:
        for _ in range(20):
            row = self._rows("SELECT version FROM hotlist_meta WHERE name = 'global'").one()
            if row is None:
                res = self._rows("INSERT INTO hotlist_meta (name, version, updated_ts) VALUES ('global', 1, ?) "
                                 "IF NOT EXISTS", (time.time(),))
            else:
                res = self._rows("UPDATE hotlist_meta SET version = ?, updated_ts = ? WHERE name = 'global' "
                                 "IF version = ?", (row.version + 1, time.time(), row.version))
            if res.was_applied:
                return
        raise RuntimeError("cassandra: could not bump the hotlist version (contention)")

    def upsert_entries(self, entries: Iterable[HotlistEntry]) -> int:
        rows = [tuple(list(getattr(e, c)) if c == "shared_with" else getattr(e, c) for c in HOTLIST_COLS)
                for e in entries]
        n = self._write(f"INSERT INTO hotlist ({', '.join(HOTLIST_COLS)}) VALUES "
                        f"({', '.join('?' * len(HOTLIST_COLS))})", rows)
        self._bump_version()
        return n

    def remove_entries(self, entry_ids: Iterable[str]) -> int:
        ids = [(i,) for i in entry_ids]
        existing = sum(1 for (i,) in ids if self._rows("SELECT entry_id FROM hotlist WHERE entry_id = ?", (i,)).one())
        self._write("DELETE FROM hotlist WHERE entry_id = ?", ids)
        self._bump_version()
        return existing

    def replace_list(self, list_code: str, entries: Iterable[HotlistEntry], agency: str = "") -> int:
        entries = check_replacement(list_code, agency, entries)
        keep = {e.entry_id for e in entries}
        old = [r.entry_id for r in self._rows("SELECT entry_id, list_code, agency FROM hotlist")
               if r.list_code == list_code and (r.agency or "") == (agency or "")]  # one agency's list only
        self._write("DELETE FROM hotlist WHERE entry_id = ?", [(i,) for i in old if i not in keep])
        return self.upsert_entries(entries)

    def load_entries(self, now: Optional[float] = None) -> list[HotlistEntry]:
        return self._entries(time.time() if now is None else now, expired=False)

    def expired_entries(self, now: Optional[float] = None) -> list[HotlistEntry]:
        return self._entries(time.time() if now is None else now, expired=True)

    def _entries(self, now: float, expired: bool) -> list[HotlistEntry]:
        out = []
        for r in self._rows(f"SELECT {', '.join(HOTLIST_COLS)} FROM hotlist"):
            if (r.expires_at is not None and r.expires_at <= now) != expired:
                continue
            d = {c: getattr(r, c) for c in HOTLIST_COLS}
            d["shared_with"] = tuple(d["shared_with"] or ())
            out.append(HotlistEntry(**{k: v for k, v in d.items() if v is not None or k == "expires_at"}))
        return out

    def hotlist_version(self) -> int:
        row = self._rows("SELECT version FROM hotlist_meta WHERE name = 'global'").one()
        return int(row.version) if row else 0

    def close(self) -> None:
        self._cluster.shutdown()
