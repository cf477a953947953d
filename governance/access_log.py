"""The Civ. Code 1798.90.52 access log: append-only and hash-chained.

Each record stores the previous record's hash and its own SHA-256 over the canonical JSON
of all its other fields (sorted keys, no whitespace). :func:`verify_chain` recomputes the
chain and reports the first bad sequence number, so an edited, inserted or deleted record
(including a truncated tail, via the stored head) is detected.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from alpr.observability.metrics import observe_chain_report, record_access_event

from .models import AccessRecord
from .purposes import Purpose
from .store import GENESIS_HASH, AccessLogStore


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(body: dict) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: Optional[int] = None
    reason: str = ""


class AccessLog:
    """Writes access records to one or more :class:`AccessLogStore` s (e.g. SQLite + Cassandra)."""

    def __init__(self, store: AccessLogStore, mirrors: tuple[AccessLogStore, ...] = (),
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.mirrors = mirrors
        self.clock = clock

    def record(self, *, username: str, agency: str, action: str, data_elements: Optional[dict] = None,
               purpose: Optional[Purpose] = None, channel: str = "api", outcome: str = "allowed",
               detail: str = "", purpose_code: str = "", case_number: str = "") -> AccessRecord:
        ts = self.clock()
        fields = dict(ts=ts, username=username, agency=agency, action=action,
                      data_elements=dict(data_elements or {}),
                      purpose_code=purpose.code if purpose else purpose_code,
                      case_number=purpose.case_number if purpose else case_number,
                      channel=channel, outcome=outcome,
                      detail=(f"{detail} | note: {purpose.note}" if purpose and purpose.note else detail))

        def make(seq: int, prev_hash: str) -> AccessRecord:
            body = dict(fields, seq=seq, prev_hash=prev_hash)
            return AccessRecord(**body, hash=record_hash(body))

        rec = self.store.append_access(make)
        for mirror in self.mirrors:
            mirror.append_access(make)
        record_access_event(action, rec.purpose_code, outcome)
        return rec

    def records(self, **kw: Any) -> list[AccessRecord]:
        return self.store.access_records(**kw)

    def verify(self) -> ChainReport:
        report = verify_chain(self.store)
        observe_chain_report(report)
        return report


def verify_chain(store: AccessLogStore) -> ChainReport:
    """Recompute the whole chain; report the first sequence number that does not check out."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    for rec in store.access_records():
        if rec.seq != expected_seq:
            return ChainReport(False, checked, expected_seq,
                               f"sequence gap: expected {expected_seq}, found {rec.seq} (record deleted or inserted)")
        if rec.prev_hash != prev_hash:
            return ChainReport(False, checked, rec.seq, "prev_hash does not match the previous record's hash")
        if record_hash(rec.body()) != rec.hash:
            return ChainReport(False, checked, rec.seq, "record hash mismatch (record edited)")
        prev_hash, expected_seq, checked = rec.hash, expected_seq + 1, checked + 1
    head = store.access_head()
    if head is not None:
        head_seq, head_hash = head
        if head_seq != expected_seq - 1 or head_hash != prev_hash:
            return ChainReport(False, checked, min(head_seq, expected_seq),
                               f"chain ends at {expected_seq - 1} but the recorded head is {head_seq} "
                               "(records removed from the end, or head tampered)")
    elif checked:
        return ChainReport(False, checked, 1, "records present but no chain head recorded")
    return ChainReport(True, checked)
