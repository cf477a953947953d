"""Hotlist matching: an immutable snapshot of the live hotlists, changed one entry at a time,
and the agency-scoped match of a confirmed plate group.

:class:`HotlistSnapshot` is a large base index (:class:`~alpr.hotlist.matcher.HotlistMatcher`,
built once) plus a small overlay: entries added or replaced since (their own small index) and
the ids masked in the base. ``apply(change)`` returns a new snapshot and rebuilds only the
overlay; the base is rebuilt (compacted) only when the overlay grows past
``compact_at`` entries. Expired entries never match (the matcher checks ``expires_at``).

Agency scope (policy 461; issue 12 item 4): an entry owned by an agency alerts only on that
agency's cameras, unless the entry is shared with the camera's agency (``shared_with``) or
an agreement between the two agencies extends it. Only entries with no owning agency (the
state and NCIC feeds) apply to every agency: an entry's ``source`` (``ncic``, ``clets`` ...)
never makes it global, since an agency can choose it. An alert for another agency's entry
carries neither its description nor its case number, whatever the entry's source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Optional

from alpr.hotlist.matcher import Hit, HotlistMatcher
from alpr.observability import metrics as obs
from alpr.records import Alert, HotlistChange, HotlistEntry, PlateGroup, stable_id

__all__ = ["HotlistChange", "HotlistSnapshot", "MatchStage", "entry_applies", "group_alert", "visible_alert"]

COMPACT_AT = 5000  # overlay entries before the base index is rebuilt


@dataclass(frozen=True)
class HotlistSnapshot:
    """Immutable live-hotlist index; :meth:`apply` gives the next one."""

    base: Optional[HotlistMatcher] = None
    overlay: tuple[HotlistEntry, ...] = ()
    masked: frozenset = frozenset()          # entry ids whose base version no longer counts
    version: int = 0
    compact_at: int = COMPACT_AT
    _overlay_index: Optional[HotlistMatcher] = field(default=None, compare=False, repr=False)

    @classmethod
    def from_entries(cls, entries: Iterable[HotlistEntry], version: int = 0,
                     compact_at: int = COMPACT_AT) -> "HotlistSnapshot":
        return cls(base=HotlistMatcher.build(list(entries)), version=version, compact_at=compact_at)

    # ------------------------------------------------------------------ contents
    def entries(self) -> list[HotlistEntry]:
        """Every live entry (base minus masked, plus the overlay)."""
        out = [e for e in (self.base.entries if self.base else ()) if e.entry_id not in self.masked]
        return out + list(self.overlay)

    def __len__(self) -> int:
        return len(self.entries())

    def get(self, entry_id: str) -> Optional[HotlistEntry]:
        for e in self.overlay:
            if e.entry_id == entry_id:
                return e
        if self.base is not None and entry_id not in self.masked:
            for e in self.base.entries:
                if e.entry_id == entry_id:
                    return e
        return None

    # ------------------------------------------------------------------ changes
    def apply(self, change: HotlistChange) -> "HotlistSnapshot":
        """The snapshot after one change: an upsert adds or replaces its entry, a remove
        (deletion or expiry) takes it out. Only the overlay is rebuilt."""
        overlay = tuple(e for e in self.overlay if e.entry_id != change.entry_id)
        if change.op == "upsert":
            overlay = overlay + (change.entry,)
        masked = self.masked | {change.entry_id}
        nxt = HotlistSnapshot(base=self.base, overlay=overlay, masked=frozenset(masked),
                              version=self.version + 1, compact_at=self.compact_at)
        if len(masked) >= self.compact_at:  # every overlay id is masked in the base too
            return nxt.compacted()
        return nxt

    def apply_all(self, changes: Iterable[HotlistChange]) -> "HotlistSnapshot":
        snap = self
        for c in changes:
            snap = snap.apply(c)
        return snap

    def compacted(self) -> "HotlistSnapshot":
        """Fold the overlay into a fresh base index."""
        return HotlistSnapshot(base=HotlistMatcher.build(self.entries()), version=self.version,
                               compact_at=self.compact_at)

    # ------------------------------------------------------------------ match
    def _overlay_matcher(self) -> Optional[HotlistMatcher]:
        if not self.overlay:
            return None
        if self._overlay_index is None:
            object.__setattr__(self, "_overlay_index", HotlistMatcher.build(self.overlay))
        return self._overlay_index

    def match_candidates(self, candidates, best_plate: str, now: Optional[float] = None) -> list[Hit]:
        """Best hit per entry over the group's candidates (same rules as the matcher)."""
        best: dict[str, Hit] = {}
        if self.base is not None:
            for h in self.base.match_candidates(candidates, best_plate=best_plate, now=now):
                if h.entry.entry_id not in self.masked:
                    best[h.entry.entry_id] = h
        over = self._overlay_matcher()
        if over is not None:
            for h in over.match_candidates(candidates, best_plate=best_plate, now=now):
                best[h.entry.entry_id] = h
        return sorted(best.values(), key=lambda h: (h.entry.priority, h.sort_key, h.entry.entry_id))

    def __getstate__(self):
        d = {f: getattr(self, f) for f in ("base", "overlay", "masked", "version", "compact_at")}
        return d

    def __setstate__(self, d):
        for k, v in d.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_overlay_index", None)


# --------------------------------------------------------------------------- scope
# (entry's agency, camera's agency) -> extended? An object with ``extends(entry, camera_agency, now)``
# (:class:`alpr.pipelines.core.agreements.AgreementIndex`: list codes and validity) is asked that instead.
Agreements = Callable[[str, str], bool]


def entry_applies(e: HotlistEntry, camera_agency: str, agreements: Optional[Agreements] = None,
                  now: Optional[float] = None) -> bool:
    """Whether entry ``e`` may alert on a camera of ``camera_agency``: global only when it has no
    owning agency (state/NCIC feeds); never because of its ``source``."""
    if not e.agency or e.agency == camera_agency:
        return True
    if camera_agency in e.shared_with:
        return True
    if agreements is None:
        return False
    extends = getattr(agreements, "extends", None)
    if extends is not None:
        return bool(extends(e, camera_agency, now))
    return bool(agreements(e.agency, camera_agency))


def group_alert(group: PlateGroup, hit: Hit, emitted_ts: Optional[float] = None) -> Alert:
    """The alert for one hotlist hit of a plate group (one id per group and entry)."""
    e: HotlistEntry = hit.entry
    return Alert(
        alert_id=stable_id("alert", group.group_id, e.entry_id),
        group_id=group.group_id, camera_id=group.camera_id, agency=group.agency,
        capture_ts=group.epoch_start, read_plate=hit.read_plate, entry_plate=e.plate,
        entry_id=e.entry_id, list_code=e.list_code, list_name=e.list_name,
        match_type=hit.match_type, distance=hit.distance, priority=e.priority,
        covert=e.covert, description=e.description, case_number=e.case_number,
        entry_source=e.source, entry_agency=e.agency, aligned=hit.aligned,
        confidence=group.best_confidence, emitted_ts=time.time() if emitted_ts is None else emitted_ts)


def visible_alert(alert: Alert) -> Alert:
    """The alert as its receiving agency (the camera's) may see it: another agency's entry
    shows its list, plate and owner, never its description or case number (its ``source`` changes
    nothing: only an entry without an owning agency is shown in full to every agency)."""
    if not alert.entry_agency or alert.entry_agency == alert.agency:
        return alert
    return replace(alert, description="", case_number="")


class MatchStage:
    """Confirmed group -> alerts. ``snapshot_provider()`` returns the current
    :class:`HotlistSnapshot` (or any object with ``match_candidates``): a store reloader in
    the Beam binding, the broadcast state in the Flink job."""

    def __init__(self, snapshot_provider: Callable[[], object], agreements: Optional[Agreements] = None):
        self.snapshot_provider = snapshot_provider
        self.agreements = agreements

    def hits(self, group: PlateGroup, camera_agency: Optional[str] = None,
             now: Optional[float] = None, extra: Iterable[object] = ()) -> list[Hit]:
        agency = group.agency if camera_agency is None else camera_agency
        cands = [(c.plate, c.confidence) for c in group.candidates]
        best: dict[str, Hit] = {}
        for index in (self.snapshot_provider(), *extra):
            if index is None:
                continue
            for h in index.match_candidates(cands, best_plate=group.best_plate, now=now):
                if not entry_applies(h.entry, agency, self.agreements, now):
                    continue
                prev = best.get(h.entry.entry_id)
                if prev is None or h.sort_key < prev.sort_key:
                    best[h.entry.entry_id] = h
        return sorted(best.values(), key=lambda h: (h.entry.priority, h.sort_key, h.entry.entry_id))

    def alerts(self, group: PlateGroup, camera_agency: Optional[str] = None, now: Optional[float] = None,
               extra: Iterable[object] = (), emitted_ts: Optional[float] = None) -> list[Alert]:
        """One alert per hit entry, with only the fields the camera's agency may see."""
        hits = self.hits(group, camera_agency, now, extra)
        for h in hits:
            obs.observe_hit(h.entry.list_code, h.match_type)
        return [visible_alert(group_alert(group, h, emitted_ts)) for h in hits]
