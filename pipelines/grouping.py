"""Multi-frame plate grouping: one :class:`PlateGroup` per vehicle passage at one camera.

Pure Python, so the Beam DoFn (:mod:`alpr.pipelines.transforms`) only adds state and
timers around it. Semantics follow OpenALPR Watchman / Rekor Scout ``plate_groups_*``:

* a read joins the open group whose plate is within ``max_plate_distance`` edits (a partial
  read of the plate entering or leaving the view counts as one) and whose last read is at
  most ``time_delta_s`` older (the timer resets on each match);
* a group is flushed when no similar read came for ``time_delta_s``, when it is
  ``max_delay_s`` old, or when it holds ``max_reads`` reads;
* the best plate is voted across frames: each read's top plate adds its confidence,
  each alternative candidate a quarter of its confidence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional

from alpr.config import GroupingConfig
from alpr.records import Candidate, PlateGroup, PlateRead, stable_id

ALT_WEIGHT = 0.25
MAX_GROUP_CANDIDATES = 10


def edit_distance(a: str, b: str, limit: int = 99) -> int:
    """Levenshtein distance, stopping early once it exceeds ``limit``."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def plate_distance(a: str, b: str, limit: int) -> int:
    """Edit distance, except that a partial read of the same plate (one string inside the
    other, at least 3 characters: the plate entering or leaving the frame) counts as 1."""
    if a != b and min(len(a), len(b)) >= 3 and (a in b or b in a):
        return 1
    return edit_distance(a, b, limit)


@dataclass
class OpenGroup:
    reads: list[PlateRead] = field(default_factory=list)

    @property
    def first_ts(self) -> float:
        return self.reads[0].capture_ts

    @property
    def last_ts(self) -> float:
        return self.reads[-1].capture_ts

    def plates(self) -> set[str]:
        return {r.plate for r in self.reads}


def vote(reads: list[PlateRead]) -> list[Candidate]:
    """Rank plate strings across the reads of one group (best first)."""
    score: dict[str, float] = defaultdict(float)
    for r in reads:
        score[r.plate] += r.confidence
        for c in r.candidates:
            if c.plate != r.plate:
                score[c.plate] += ALT_WEIGHT * c.confidence
    n = max(len(reads), 1)
    ranked = sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_GROUP_CANDIDATES]
    return [Candidate(p, round(min(99.99, s / n), 2)) for p, s in ranked]


def build_group(reads: list[PlateRead]) -> PlateGroup:
    reads = sorted(reads, key=lambda r: (r.capture_ts, r.read_id))
    candidates = vote(reads)
    best = candidates[0].plate
    agreeing = [r for r in reads if r.plate == best]
    if agreeing:
        best_read = max(agreeing, key=lambda r: r.confidence)
        best_conf = sum(r.confidence for r in agreeing) / len(agreeing)
    else:
        best_read = max(reads, key=lambda r: r.confidence)
        best_conf = candidates[0].confidence
    first = reads[0]
    return PlateGroup(
        group_id=stable_id("group", first.camera_id, first.read_id),
        camera_id=first.camera_id,
        agency=first.agency,
        epoch_start=first.capture_ts,
        epoch_end=reads[-1].capture_ts,
        frame_start=min(r.seq for r in reads),
        frame_end=max(r.seq for r in reads),
        best_plate=best,
        best_confidence=round(best_conf, 2),
        best_read_id=best_read.read_id,
        candidates=tuple(candidates),
        read_ids=tuple(r.read_id for r in reads),
        num_reads=len(reads),
    )


def is_confirmed(group: PlateGroup, cfg: GroupingConfig) -> bool:
    """Whether a group is good enough to be matched against hotlists (it is stored either way)."""
    return group.num_reads >= cfg.min_reads and group.best_confidence >= cfg.min_confidence


class PlateGrouper:
    """Groups the reads of one camera. Feed reads in capture-time order."""

    def __init__(self, cfg: GroupingConfig, groups: Optional[list[OpenGroup]] = None):
        self.cfg = cfg
        self.groups: list[OpenGroup] = groups if groups is not None else []

    def _match(self, read: PlateRead) -> Optional[OpenGroup]:
        best, best_d = None, self.cfg.max_plate_distance + 1
        for g in self.groups:
            if read.capture_ts - g.last_ts > self.cfg.time_delta_s:
                continue
            d = min(plate_distance(read.plate, p, self.cfg.max_plate_distance) for p in g.plates())
            if d < best_d:
                best, best_d = g, d
        return best

    def add(self, read: PlateRead) -> list[PlateGroup]:
        """Add one read; returns the groups this closes (reached ``max_reads``)."""
        group = self._match(read)
        if group is None:
            group = OpenGroup()
            self.groups.append(group)
        group.reads.append(read)
        if len(group.reads) >= self.cfg.max_reads:
            self.groups.remove(group)
            return [build_group(group.reads)]
        return []

    def flush_ready(self, now_ts: float) -> list[PlateGroup]:
        """Close every group that is idle for ``time_delta_s`` or older than ``max_delay_s``."""
        done, keep = [], []
        for g in self.groups:
            idle = now_ts - g.last_ts >= self.cfg.time_delta_s
            old = now_ts - g.first_ts >= self.cfg.max_delay_s
            (done if (idle or old) else keep).append(g)
        self.groups = keep
        return [build_group(g.reads) for g in done]

    def flush_all(self) -> list[PlateGroup]:
        out = [build_group(g.reads) for g in self.groups]
        self.groups = []
        return out

    def next_deadline(self) -> Optional[float]:
        """Earliest event time at which :meth:`flush_ready` would close a group."""
        if not self.groups:
            return None
        return min(min(g.last_ts + self.cfg.time_delta_s, g.first_ts + self.cfg.max_delay_s)
                   for g in self.groups)

    def group_all(self, reads: Iterable[PlateRead]) -> list[PlateGroup]:
        """Batch helper: group a finite list of reads (sorted by time)."""
        out: list[PlateGroup] = []
        for r in sorted(reads, key=lambda r: (r.capture_ts, r.read_id)):
            out += self.flush_ready(r.capture_ts)
            out += self.add(r)
        return out + self.flush_all()
