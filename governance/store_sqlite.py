"""SQLite adapter of :class:`~alpr.governance.store.GovernanceStore` (embedded default).

The access log table is append-only: triggers abort any UPDATE or DELETE, and every
append updates ``access_log_head`` in the same transaction so a truncated tail is detected
by :func:`alpr.governance.access_log.verify_chain`.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Optional, Type, TypeVar

from .models import (AccessRecord, Agency, AlertEvent, AlertWorkflow, AuditSample, EvidenceHold,
                     EvidenceItem, PolicyVersion, PublicCommentMeeting, RetentionSetting, Session, ShareDelivery,
                     SharingRequest, SharingScope, TrainingRecord, User)
from .store import GENESIS_HASH, KNOWN_CASE_SOURCES, RecordMaker
from .store_sqlite_agreements import AGREEMENTS_DDL, SqliteAgreementRows

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS agencies (agency_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, agency TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trainings (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL,
    body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS access_log (
    seq INTEGER PRIMARY KEY, ts REAL NOT NULL, username TEXT NOT NULL, agency TEXT NOT NULL,
    action TEXT NOT NULL, data_elements TEXT NOT NULL, purpose_code TEXT NOT NULL,
    case_number TEXT NOT NULL, channel TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS access_log_ts ON access_log(ts);
CREATE TABLE IF NOT EXISTS access_log_head (k TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log
    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log
    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TABLE IF NOT EXISTS alert_workflow (alert_id TEXT PRIMARY KEY, agency TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alert_events (alert_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (alert_id, seq));
CREATE TABLE IF NOT EXISTS sharing_requests (request_id TEXT PRIMARY KEY, owner_agency TEXT NOT NULL,
    requesting_agency TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS share_deliveries (delivery_id TEXT PRIMARY KEY, request_id TEXT NOT NULL,
    owner_agency TEXT NOT NULL, recipient_agency TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evidence_holds (case_number TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evidence_holds_by_agency (agency TEXT NOT NULL, case_number TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (agency, case_number));
CREATE TABLE IF NOT EXISTS evidence_items (case_number TEXT NOT NULL, read_id TEXT NOT NULL,
    read_json TEXT NOT NULL, image BLOB, held_ts REAL NOT NULL, held_by TEXT NOT NULL,
    PRIMARY KEY (case_number, read_id));
CREATE TABLE IF NOT EXISTS retention (agency TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audits (audit_id TEXT PRIMARY KEY, created_ts REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policy_versions (version TEXT PRIMARY KEY, published_ts REAL NOT NULL,
    body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS public_meetings (agency TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cases (case_number TEXT NOT NULL, agency TEXT NOT NULL, source TEXT NOT NULL,
    ts REAL NOT NULL, PRIMARY KEY (case_number, agency));
""" + AGREEMENTS_DDL

ACCESS_COLUMNS = [f.name for f in dataclasses.fields(AccessRecord)]


def _dump(obj: Any) -> str:
    return json.dumps(dataclasses.asdict(obj), sort_keys=True)


def _load(cls: Type[T], body: str) -> T:
    data = json.loads(body)
    if cls is SharingRequest:
        data["scope"] = SharingScope(**data["scope"])
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data and isinstance(data[f.name], list):
            data[f.name] = tuple(data[f.name])
    return cls(**data)  # type: ignore[call-arg]


def access_record_from_row(row: tuple) -> AccessRecord:
    d = dict(zip(ACCESS_COLUMNS, row))
    d["data_elements"] = json.loads(d["data_elements"])
    return AccessRecord(**d)


class SqliteGovernanceStore(SqliteAgreementRows):
    """All governance state in one SQLite file (``:memory:`` for tests)."""

    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=10000")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.RLock()
        with self._lock:
            self._conn.executescript(SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        """Additive migrations of a database made by an earlier version (nothing is dropped or
        rewritten): evidence holds are keyed by (agency, case number) in ``evidence_holds_by_agency``
        (the case-keyed ``evidence_holds`` rows are copied there and no longer written), and
        ``evidence_items`` gains the holding agency."""
        cols = {row[1] for row in self._conn.execute("PRAGMA table_info(evidence_items)")}
        if "agency" not in cols:
            self._conn.execute("ALTER TABLE evidence_items ADD COLUMN agency TEXT NOT NULL DEFAULT ''")
        self._conn.execute("INSERT OR IGNORE INTO evidence_holds_by_agency (agency, case_number, body) "
                           "SELECT json_extract(body, '$.agency'), case_number, body FROM evidence_holds")
        self._conn.execute("UPDATE evidence_items SET agency = COALESCE((SELECT json_extract(h.body, '$.agency') "
                           "FROM evidence_holds h WHERE h.case_number = evidence_items.case_number), '') "
                           "WHERE agency = ''")

    # -- helpers -----------------------------------------------------------------
    def _q(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _x(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    def _tx(self, statements: list[tuple[str, tuple]]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._conn.execute(sql, args)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection (tests use it to simulate tampering)."""
        return self._conn

    # -- access log --------------------------------------------------------------
    def append_access(self, make: RecordMaker) -> AccessRecord:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                last = self._conn.execute("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1").fetchone()
                head = self._conn.execute("SELECT seq, hash FROM access_log_head WHERE k = 'head'").fetchone()
                # chain from the recorded head, not from whatever row is last now: otherwise the next
                # append would re-link (launder) a deleted, edited or forged tail record
                seq = max(last[0] if last else 0, head[0] if head else 0) + 1
                prev = head[1] if head else (last[1] if last else GENESIS_HASH)
                rec = make(seq, prev)
                values = [getattr(rec, c) for c in ACCESS_COLUMNS]
                values[ACCESS_COLUMNS.index("data_elements")] = json.dumps(rec.data_elements, sort_keys=True)
                self._conn.execute(f"INSERT INTO access_log VALUES ({','.join('?' * len(values))})", values)
                self._conn.execute(
                    "INSERT INTO access_log_head(k, seq, hash) VALUES ('head', ?, ?) "
                    "ON CONFLICT(k) DO UPDATE SET seq = excluded.seq, hash = excluded.hash", (rec.seq, rec.hash))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return rec

    def access_records(self, start_seq: int = 1, since_ts: Optional[float] = None,
                       until_ts: Optional[float] = None) -> list[AccessRecord]:
        where, args = ["seq >= ?"], [start_seq]
        if since_ts is not None:
            where.append("ts >= ?")
            args.append(since_ts)
        if until_ts is not None:
            where.append("ts <= ?")
            args.append(until_ts)
        rows = self._q(f"SELECT {','.join(ACCESS_COLUMNS)} FROM access_log WHERE {' AND '.join(where)} "
                       "ORDER BY seq", tuple(args))
        return [access_record_from_row(r) for r in rows]

    def access_head(self) -> Optional[tuple[int, str]]:
        rows = self._q("SELECT seq, hash FROM access_log_head WHERE k = 'head'")
        return (int(rows[0][0]), rows[0][1]) if rows else None

    # -- agencies ----------------------------------------------------------------
    def put_agency(self, agency: Agency) -> None:
        self._x("INSERT OR REPLACE INTO agencies VALUES (?,?)", (agency.agency_id, _dump(agency)))

    def get_agency(self, agency_id: str) -> Optional[Agency]:
        rows = self._q("SELECT body FROM agencies WHERE agency_id = ?", (agency_id,))
        return _load(Agency, rows[0][0]) if rows else None

    def list_agencies(self) -> list[Agency]:
        return [_load(Agency, b) for (b,) in self._q("SELECT body FROM agencies ORDER BY agency_id")]

    # -- users -------------------------------------------------------------------
    def put_user(self, user: User) -> None:
        """Insert or replace; a write made from a stale copy never moves ``totp_last_step`` back
        while the MFA secret is unchanged (a concurrent login's accepted code stays spent)."""
        self._x("INSERT INTO users VALUES (?,?,?) ON CONFLICT(username) DO UPDATE SET agency = excluded.agency, "
                "body = CASE WHEN json_extract(users.body, '$.totp_secret') = json_extract(excluded.body, "
                "'$.totp_secret') AND json_extract(users.body, '$.totp_last_step') > json_extract(excluded.body, "
                "'$.totp_last_step') THEN json_set(excluded.body, '$.totp_last_step', "
                "json_extract(users.body, '$.totp_last_step')) ELSE excluded.body END",
                (user.username, user.agency, _dump(user)))

    def claim_totp_step(self, username: str, step: int) -> bool:
        """Compare-and-set: record ``step`` as the last accepted TOTP step only if it is newer than
        the stored one. Exactly one of several concurrent claims of the same step wins."""
        return self._x("UPDATE users SET body = json_set(body, '$.totp_last_step', ?) WHERE username = ? "
                       "AND json_extract(body, '$.totp_last_step') < ?", (int(step), username, int(step))) == 1

    def get_user(self, username: str) -> Optional[User]:
        rows = self._q("SELECT body FROM users WHERE username = ?", (username,))
        return _load(User, rows[0][0]) if rows else None

    def list_users(self, agency: Optional[str] = None) -> list[User]:
        if agency is None:
            rows = self._q("SELECT body FROM users ORDER BY username")
        else:
            rows = self._q("SELECT body FROM users WHERE agency = ? ORDER BY username", (agency,))
        return [_load(User, b) for (b,) in rows]

    def add_training(self, record: TrainingRecord) -> None:
        self._x("INSERT INTO trainings(username, body) VALUES (?,?)", (record.username, _dump(record)))

    def trainings_for(self, username: str) -> list[TrainingRecord]:
        rows = self._q("SELECT body FROM trainings WHERE username = ? ORDER BY id", (username,))
        return [_load(TrainingRecord, b) for (b,) in rows]

    # -- sessions ----------------------------------------------------------------
    def put_session(self, session: Session) -> None:
        self._x("INSERT OR REPLACE INTO sessions VALUES (?,?,?)",
                (session.token_hash, session.username, _dump(session)))

    def get_session(self, token_hash: str) -> Optional[Session]:
        rows = self._q("SELECT body FROM sessions WHERE token_hash = ?", (token_hash,))
        return _load(Session, rows[0][0]) if rows else None

    def delete_session(self, token_hash: str) -> None:
        self._x("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def delete_sessions_for(self, username: str) -> int:
        return self._x("DELETE FROM sessions WHERE username = ?", (username,))

    # -- alert workflow ----------------------------------------------------------
    def get_workflow(self, alert_id: str) -> Optional[AlertWorkflow]:
        rows = self._q("SELECT body FROM alert_workflow WHERE alert_id = ?", (alert_id,))
        return _load(AlertWorkflow, rows[0][0]) if rows else None

    def save_workflow(self, wf: AlertWorkflow, event: AlertEvent) -> None:
        self._tx([("INSERT OR REPLACE INTO alert_workflow VALUES (?,?,?)", (wf.alert_id, wf.agency, _dump(wf))),
                  ("INSERT INTO alert_events VALUES (?,?,?)", (event.alert_id, event.seq, _dump(event)))])

    def alert_events(self, alert_id: str) -> list[AlertEvent]:
        rows = self._q("SELECT body FROM alert_events WHERE alert_id = ? ORDER BY seq", (alert_id,))
        return [_load(AlertEvent, b) for (b,) in rows]

    # -- sharing -----------------------------------------------------------------
    def put_sharing(self, req: SharingRequest) -> None:
        self._x("INSERT OR REPLACE INTO sharing_requests VALUES (?,?,?,?)",
                (req.request_id, req.owner_agency, req.requesting_agency, _dump(req)))

    def get_sharing(self, request_id: str) -> Optional[SharingRequest]:
        rows = self._q("SELECT body FROM sharing_requests WHERE request_id = ?", (request_id,))
        return _load(SharingRequest, rows[0][0]) if rows else None

    def list_sharing(self, owner_agency: Optional[str] = None,
                     requesting_agency: Optional[str] = None) -> list[SharingRequest]:
        where, args = ["1=1"], []
        if owner_agency is not None:
            where.append("owner_agency = ?")
            args.append(owner_agency)
        if requesting_agency is not None:
            where.append("requesting_agency = ?")
            args.append(requesting_agency)
        rows = self._q(f"SELECT body FROM sharing_requests WHERE {' AND '.join(where)} ORDER BY request_id",
                       tuple(args))
        return [_load(SharingRequest, b) for (b,) in rows]

    def put_delivery(self, d: ShareDelivery) -> None:
        self._x("INSERT INTO share_deliveries VALUES (?,?,?,?,?)",
                (d.delivery_id, d.request_id, d.owner_agency, d.recipient_agency, _dump(d)))

    def list_deliveries(self, agency: Optional[str] = None) -> list[ShareDelivery]:
        """Deliveries where ``agency`` is the owner or the recipient (all when None)."""
        if agency is None:
            rows = self._q("SELECT body FROM share_deliveries ORDER BY delivery_id")
        else:
            rows = self._q("SELECT body FROM share_deliveries WHERE owner_agency = ? OR recipient_agency = ? "
                           "ORDER BY delivery_id", (agency, agency))
        return [_load(ShareDelivery, b) for (b,) in rows]

    # -- evidence ----------------------------------------------------------------
    def put_hold(self, hold: EvidenceHold) -> None:
        self._x("INSERT OR REPLACE INTO evidence_holds_by_agency VALUES (?,?,?)",
                (hold.agency, hold.case_number, _dump(hold)))

    def get_hold(self, agency: str, case_number: str) -> Optional[EvidenceHold]:
        rows = self._q("SELECT body FROM evidence_holds_by_agency WHERE agency = ? AND case_number = ?",
                       (agency, case_number))
        return _load(EvidenceHold, rows[0][0]) if rows else None

    def list_holds(self) -> list[EvidenceHold]:
        return [_load(EvidenceHold, b) for (b,) in
                self._q("SELECT body FROM evidence_holds_by_agency ORDER BY agency, case_number")]

    def add_evidence_items(self, items: Iterable[EvidenceItem]) -> int:
        rows = [(i.case_number, i.read_id, i.read_json, i.image, i.held_ts, i.held_by, i.agency) for i in items]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                n = 0
                for r in rows:
                    n += self._conn.execute("INSERT OR IGNORE INTO evidence_items (case_number, read_id, read_json, "
                                            "image, held_ts, held_by, agency) VALUES (?,?,?,?,?,?,?)", r).rowcount
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return n

    def evidence_items(self, agency: str, case_number: str) -> list[EvidenceItem]:
        rows = self._q("SELECT case_number, read_id, read_json, image, held_ts, held_by, agency FROM evidence_items "
                       "WHERE agency = ? AND case_number = ? ORDER BY read_id", (agency, case_number))
        return [EvidenceItem(*r) for r in rows]

    # -- retention ---------------------------------------------------------------
    def put_retention(self, setting: RetentionSetting) -> None:
        self._x("INSERT OR REPLACE INTO retention VALUES (?,?)", (setting.agency, _dump(setting)))

    def get_retention(self, agency: str) -> Optional[RetentionSetting]:
        rows = self._q("SELECT body FROM retention WHERE agency = ?", (agency,))
        return _load(RetentionSetting, rows[0][0]) if rows else None

    def list_retention(self) -> list[RetentionSetting]:
        return [_load(RetentionSetting, b) for (b,) in self._q("SELECT body FROM retention ORDER BY agency")]

    # -- audits ------------------------------------------------------------------
    def put_audit(self, audit: AuditSample) -> None:
        self._x("INSERT OR REPLACE INTO audits VALUES (?,?,?)", (audit.audit_id, audit.created_ts, _dump(audit)))

    def get_audit(self, audit_id: str) -> Optional[AuditSample]:
        rows = self._q("SELECT body FROM audits WHERE audit_id = ?", (audit_id,))
        return _load(AuditSample, rows[0][0]) if rows else None

    def list_audits(self) -> list[AuditSample]:
        return [_load(AuditSample, b) for (b,) in self._q("SELECT body FROM audits ORDER BY created_ts")]

    # -- policy ------------------------------------------------------------------
    def put_policy(self, policy: PolicyVersion) -> None:
        self._x("INSERT INTO policy_versions VALUES (?,?,?)", (policy.version, policy.published_ts, _dump(policy)))

    def list_policies(self) -> list[PolicyVersion]:
        return [_load(PolicyVersion, b)
                for (b,) in self._q("SELECT body FROM policy_versions ORDER BY published_ts")]

    # -- public-comment meeting and go-live (1798.90.55(a)) ------------------------
    def put_public_meeting(self, meeting: PublicCommentMeeting) -> None:
        self._x("INSERT OR REPLACE INTO public_meetings VALUES (?,?)", (meeting.agency, _dump(meeting)))

    def get_public_meeting(self, agency: str) -> Optional[PublicCommentMeeting]:
        rows = self._q("SELECT body FROM public_meetings WHERE agency = ?", (agency,))
        return _load(PublicCommentMeeting, rows[0][0]) if rows else None

    # -- cases -------------------------------------------------------------------
    def register_case(self, case_number: str, agency: str, source: str, ts: float) -> None:
        """A vouching source (RMS, case list) replaces a self-registered row; nothing replaces a vouched one."""
        vouched = ",".join(f"'{v}'" for v in sorted(KNOWN_CASE_SOURCES))
        self._x("INSERT INTO cases VALUES (?,?,?,?) ON CONFLICT(case_number, agency) DO UPDATE SET "
                f"source = excluded.source, ts = excluded.ts WHERE excluded.source IN ({vouched}) "
                f"AND cases.source NOT IN ({vouched})", (case_number, agency, source, ts))

    def known_cases(self, agency: Optional[str] = None) -> set[str]:
        vouched = tuple(sorted(KNOWN_CASE_SOURCES))
        marks = ",".join("?" * len(vouched))
        if agency is None:
            return {c for (c,) in self._q(f"SELECT case_number FROM cases WHERE source IN ({marks})", vouched)}
        return {c for (c,) in self._q(f"SELECT case_number FROM cases WHERE agency = ? AND source IN ({marks})",
                                      (agency, *vouched))}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
