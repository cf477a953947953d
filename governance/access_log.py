"""The Civ. Code 1798.90.52 access log: append-only, HMAC-chained and anchored outside the store.

Each record stores the previous record's MAC and its own HMAC-SHA256 (key: :class:`AuditKey`,
never stored in the database) over the canonical JSON of all its other fields. Someone who
can write the database cannot recompute a valid chain without the key. Every
``anchor_every``-th record (and ``alpr maintenance run``) publishes a signed checkpoint of
the head to the anchor sinks (a file the auditor keeps, a Kafka topic), so cutting the tail
and moving the stored head back is caught too. :func:`verify_chain` checks the chain, the
anchors and the recorded head; :func:`compare_stores` compares the primary store with a
mirror record by record.

Without a key (bare library use) the chain falls back to plain SHA-256: only the
``Governance`` service wiring is tamper-evident against a database writer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

from alpr.observability.metrics import observe_chain_report, record_access_event

from .anchors import AnchorSink, Checkpoint, gather
from .keys import AuditKey
from .models import AccessRecord
from .purposes import Purpose
from .store import GENESIS_HASH, AccessLogStore, RecordMaker

log = logging.getLogger(__name__)
CHAIN = "access_log"
# the sequence numbers written in the current context (a request: see alpr.governance.api.attempts)
_TALLY: ContextVar[Optional[list]] = ContextVar("alpr_access_records", default=None)


@contextmanager
def tally_records() -> Iterator[list]:
    """Collect the seq of every record written inside the block, in this context and the worker
    threads it starts (they run in a copy of it that holds the same list)."""
    tally: list = []
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(body: dict, key: Optional[AuditKey] = None) -> str:
    data = canonical_json(body).encode("utf-8")
    return key.mac(data) if key is not None else hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: Optional[int] = None
    reason: str = ""
    anchors_checked: int = 0


class AccessLog:
    """Writes access records to one or more :class:`AccessLogStore` s (e.g. SQLite + Cassandra)."""

    def __init__(self, store: AccessLogStore, mirrors: tuple[AccessLogStore, ...] = (),
                 clock: Callable[[], float] = time.time, key: Optional[AuditKey] = None,
                 anchors: Sequence[AnchorSink] = (), anchor_every: int = 1):
        self.store = store
        self.mirrors = mirrors
        self.clock = clock
        self.key = key
        self.anchors = tuple(anchors)
        self.anchor_every = max(1, int(anchor_every))

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
        key = self.key

        def make(seq: int, prev_hash: str) -> AccessRecord:
            body = dict(fields, seq=seq, prev_hash=prev_hash)
            return AccessRecord(**body, hash=record_hash(body, key))

        rec = self.store.append_access(make)
        tally = _TALLY.get()
        if tally is not None:
            tally.append(rec.seq)
        for mirror in self.mirrors:
            self._mirror(mirror, rec, make)
        record_access_event(action, rec.purpose_code, outcome)
        if self.anchors and rec.seq % self.anchor_every == 0:
            self._publish(rec.seq, rec.hash)
        return rec

    def _mirror(self, mirror: AccessLogStore, rec: AccessRecord, make: RecordMaker) -> None:
        """Store the primary's record ``rec`` in ``mirror`` as it is (same seq, prev_hash and MAC).

        A mirror that is behind the primary (attached to a log that already has records, e.g.
        the packaged policy published by ``Governance.build``, or enabled on a running
        deployment) first gets the primary's records it lacks, in order: re-making the record
        at the mirror's own next slot would shift every record by one, so the mirror would
        never match the primary. Only a mirror whose next slot is exactly where the primary's
        next record goes is caught up; a mirror that is ahead or forked (tampered) gets the
        record re-made at its own slot, as before, and ``alpr audit verify --mirror`` shows it."""
        for _ in range(3):  # a concurrent writer can move the mirror meanwhile: look again
            try:
                mirror.append_access(_exactly(rec))
                return
            except _Slot as slot:
                seq, prev = slot.seq, slot.prev
            if seq > rec.seq:  # already copied by a concurrent writer's catch-up?
                have = mirror.access_records(start_seq=rec.seq)[:1]
                if have and have[0].seq == rec.seq and have[0].hash == rec.hash:
                    return
                break
            missing = [r for r in self.store.access_records(start_seq=seq) if r.seq < rec.seq]
            if not missing or missing[0].seq != seq or missing[0].prev_hash != prev:
                break
            log.warning("access-log mirror %s is behind the primary: copying records %d..%d",
                        type(mirror).__name__, seq, rec.seq - 1)
            try:
                for r in missing:
                    mirror.append_access(_exactly(r))
            except _Slot:
                continue
        log.error("access-log mirror %s is out of step with the primary at record %d: "
                  "`alpr audit verify --mirror` will report it", type(mirror).__name__, rec.seq)
        mirror.append_access(make)

    def _publish(self, seq: int, hash_: str) -> Optional[Checkpoint]:
        if self.key is None or not self.anchors:
            return None
        cp = Checkpoint.make(self.key, CHAIN, seq, hash_, self.clock())
        for sink in self.anchors:
            try:
                sink.publish(cp)
            except Exception as exc:  # the record is stored; a missed anchor shows as a gap, loudly
                log.error("access-log anchor %s not published to %s: %s", seq, sink.name, exc)
        return cp

    def anchor_now(self) -> Optional[Checkpoint]:
        """Publish a checkpoint of the current head (maintenance job, ``alpr audit anchor``)."""
        head = self.store.access_head()
        return self._publish(*head) if head else None

    def anchors_expected_after(self, extra_sinks: int = 0) -> Optional[int]:
        """Records after which a checkpoint must exist: ``anchor_every`` when this log publishes
        checkpoints (sinks and a key) or an auditor brings anchor copies; None otherwise."""
        anchoring = bool(self.anchors) and self.key is not None
        return self.anchor_every if (anchoring or extra_sinks) else None

    def records(self, **kw: Any) -> list[AccessRecord]:
        return self.store.access_records(**kw)

    def verify(self, with_anchors: bool = True) -> ChainReport:
        cps = gather(self.anchors, CHAIN) if (with_anchors and self.anchors) else ()
        report = verify_chain(self.store, self.key, cps, self.anchors_expected_after() if with_anchors else None)
        observe_chain_report(report)
        return report


class _Slot(Exception):
    """A mirror offered slot (seq, prev) that is not where the record being copied belongs."""

    def __init__(self, seq: int, prev: str):
        super().__init__(seq, prev)
        self.seq, self.prev = seq, prev


def _exactly(rec: AccessRecord) -> RecordMaker:
    """A maker that stores ``rec`` unchanged, only at its own slot (else raises :class:`_Slot`,
    which the store's append gives up on before writing anything)."""

    def make(seq: int, prev: str) -> AccessRecord:
        if (seq, prev) != (rec.seq, rec.prev_hash):
            raise _Slot(seq, prev)
        return rec
    return make


def verify_chain(store: AccessLogStore, key: Optional[AuditKey] = None,
                 anchors: Sequence[Checkpoint] = (), anchors_expected_after: Optional[int] = None) -> ChainReport:
    """Recompute the whole chain; report the first sequence number that does not check out.
    With ``anchors``, every signed checkpoint must match the stored record at its sequence
    number, and the log must reach at least the newest checkpoint. ``anchors_expected_after``
    (the deployment anchors every N records): a log of N records or more with no checkpoint at
    all fails (the anchor file deleted or the topic emptied, e.g. to hide a cut tail)."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    hashes: dict[int, str] = {}
    for rec in store.access_records():
        if rec.seq != expected_seq:
            return ChainReport(False, checked, expected_seq,
                               f"sequence gap: expected {expected_seq}, found {rec.seq} (record deleted or inserted)")
        if rec.prev_hash != prev_hash:
            return ChainReport(False, checked, rec.seq, "prev_hash does not match the previous record's hash")
        if record_hash(rec.body(), key) != rec.hash:
            return ChainReport(False, checked, rec.seq, "record MAC mismatch (record edited or forged without "
                                                        "the audit key)" if key else "record hash mismatch "
                                                        "(record edited)")
        hashes[rec.seq] = rec.hash
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
    if not anchors and anchors_expected_after is not None and checked >= anchors_expected_after:
        return ChainReport(False, checked, anchors_expected_after, _missing_anchors(checked, anchors_expected_after))
    if anchors:
        if key is None:
            return ChainReport(False, checked, None, "anchors given but no audit key to check their signatures")
        pub = key.public_key_hex()
        for cp in anchors:
            if not cp.valid_for(pub):
                return ChainReport(False, checked, cp.seq, f"anchor for seq {cp.seq} has a bad signature "
                                                           "(forged or signed with another key)", len(anchors))
            if cp.seq not in hashes:
                return ChainReport(False, checked, min(cp.seq, expected_seq),
                                   f"anchored record {cp.seq} is missing: the log ends at {expected_seq - 1} "
                                   "(tail cut and head moved)", len(anchors))
            if hashes[cp.seq] != cp.hash:
                return ChainReport(False, checked, cp.seq, f"record {cp.seq} differs from its anchored MAC "
                                                           "(history rewritten)", len(anchors))
    return ChainReport(True, checked, anchors_checked=len(anchors))


def _missing_anchors(checked: int, every: int) -> str:
    return (f"anchors expected but missing: the deployment anchors every {every} record(s) and the log has "
            f"{checked}, but no checkpoint was found (anchor file deleted or topic emptied? check against the "
            "auditor's copy with --anchors; anchor the current head only if the log is known to be complete)")


def compare_stores(primary: AccessLogStore, mirror: AccessLogStore) -> ChainReport:
    """Record-by-record comparison of the primary access log with a mirror."""
    a, b = primary.access_records(), mirror.access_records()
    for n, (ra, rb) in enumerate(zip(a, b), 1):
        if ra != rb:
            what = [f for f in ("seq", "ts", "username", "agency", "action", "data_elements", "purpose_code",
                                "case_number", "channel", "outcome", "detail", "prev_hash", "hash")
                    if getattr(ra, f) != getattr(rb, f)]
            return ChainReport(False, n - 1, min(ra.seq, rb.seq),
                               f"primary and mirror differ at record {n} ({', '.join(what)})")
    if len(a) != len(b):
        n = min(len(a), len(b))
        longer = "primary" if len(a) > len(b) else "mirror"
        return ChainReport(False, n, n + 1, f"{longer} has {abs(len(a) - len(b))} more record(s) "
                                            f"({len(a)} in the primary, {len(b)} in the mirror)")
    if primary.access_head() != mirror.access_head():
        return ChainReport(False, len(a), len(a), f"heads differ: primary {primary.access_head()}, "
                                                  f"mirror {mirror.access_head()}")
    return ChainReport(True, len(a))
