"""Multi-frame plate grouping as an engine-neutral state machine with an explicit clock.

One :class:`~alpr.records.PlateGroup` per vehicle passage at one camera. Semantics follow
OpenALPR Watchman / Rekor Scout ``plate_groups_*``:

* a read joins the open group whose plate is within ``max_plate_distance`` edits (a partial
  read of the plate entering or leaving the view counts as one) and whose last read is at
  most ``time_delta_s`` older (the timer resets on each match);
* a group is closed when no similar read came for ``time_delta_s``, when it is
  ``max_delay_s`` old, or when it holds ``max_reads`` reads;
* the best plate is voted across frames: each read's top plate adds its confidence,
  each alternative candidate a quarter of its confidence.

:class:`GroupingStage` drives it for one camera key: ``on_read`` / ``on_timer`` take the
state and the event time and return a :class:`Step` (new state, closed groups, groups that
were just confirmed while still open, and when to be woken). Engines hold the state (Beam
keyed state, Flink ``ValueState``) and set the timer at ``wake_at``; nothing here knows them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional

from alpr.config import GroupingConfig
from alpr.observability import metrics as obs
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
    """Reads of one vehicle so far. ``group_id`` is fixed by the first read, so the id stays
    the same across updates; ``confirmed_plate`` is the best plate last sent as confirmed."""

    reads: list[PlateRead] = field(default_factory=list)
    group_id: str = ""
    confirmed_plate: Optional[str] = None

    @property
    def first_ts(self) -> float:
        return min(r.capture_ts for r in self.reads)

    @property
    def last_ts(self) -> float:
        return max(r.capture_ts for r in self.reads)

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


def build_group(reads: list[PlateRead], group_id: Optional[str] = None) -> PlateGroup:
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
        group_id=group_id or stable_id("group", first.camera_id, first.read_id),
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
    """Groups the reads of one camera (feed reads in capture-time order). The mutable form of
    :class:`GroupingStage`, kept for batch use and the benchmarks' bare loops."""

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

    def _add(self, read: PlateRead) -> tuple[OpenGroup, bool]:
        """Add one read; returns its group and whether that group is now full (removed)."""
        group = self._match(read)
        if group is None:
            group = OpenGroup(group_id=stable_id("group", read.camera_id, read.read_id))
            self.groups.append(group)
        group.reads.append(read)
        if len(group.reads) >= self.cfg.max_reads:
            self.groups.remove(group)
            return group, True
        return group, False

    def add(self, read: PlateRead) -> list[PlateGroup]:
        """Add one read; returns the groups this closes (reached ``max_reads``)."""
        group, full = self._add(read)
        return [build_group(group.reads, group.group_id)] if full else []

    def _ready(self, now_ts: float) -> list[OpenGroup]:
        done, keep = [], []
        for g in self.groups:
            idle = now_ts - g.last_ts >= self.cfg.time_delta_s
            old = now_ts - g.first_ts >= self.cfg.max_delay_s
            (done if (idle or old) else keep).append(g)
        self.groups = keep
        return done

    def flush_ready(self, now_ts: float) -> list[PlateGroup]:
        """Close every group that is idle for ``time_delta_s`` or older than ``max_delay_s``."""
        return [build_group(g.reads, g.group_id) for g in self._ready(now_ts)]

    def flush_all(self) -> list[PlateGroup]:
        out = [build_group(g.reads, g.group_id) for g in self.groups]
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


# --------------------------------------------------------------------------- the stage
@dataclass
class GroupingState:
    """The open groups of ONE camera key (small and picklable: engines store it as is)."""

    groups: list[OpenGroup] = field(default_factory=list)


@dataclass
class Step:
    """What one call of the stage produced. ``confirmed`` holds OPEN groups the first time they
    are confirmed and again whenever their best plate changes (match and alert at once);
    ``closed`` holds final groups (store them). ``wake_at``: call ``on_timer`` at this event
    time (``None``: no open group, clear the timer)."""

    state: GroupingState
    closed: list[PlateGroup] = field(default_factory=list)
    confirmed: list[PlateGroup] = field(default_factory=list)
    wake_at: Optional[float] = None


class GroupingStage:
    """Grouping for one camera as ``(state, input, event time) -> Step``. Feed each camera's
    reads in capture order (engines buffer until the watermark passes them); the result is
    then the same however the input is split in time (one vehicle = one group id)."""

    def __init__(self, cfg: GroupingConfig):
        self.cfg = cfg

    def _observe(self, step: Step) -> Step:
        for g in step.closed:
            obs.observe_group(g.camera_id, g.agency)
            if not is_confirmed(g, self.cfg):
                obs.observe_group(g.camera_id, g.agency, confirmed=False)
        return step

    def _confirm(self, g: OpenGroup, built: PlateGroup, out: list[PlateGroup]) -> None:
        if is_confirmed(built, self.cfg) and built.best_plate != g.confirmed_plate:
            g.confirmed_plate = built.best_plate
            out.append(built)

    def on_read(self, state: Optional[GroupingState], read: PlateRead) -> Step:
        state = state or GroupingState()
        grouper = PlateGrouper(self.cfg, state.groups)
        step = Step(state)
        step.closed += grouper.flush_ready(read.capture_ts)
        group, full = grouper._add(read)
        built = build_group(group.reads, group.group_id)
        self._confirm(group, built, step.confirmed)
        if full:
            step.closed.append(built)
        state.groups = grouper.groups
        step.wake_at = grouper.next_deadline()
        return self._observe(step)

    def on_timer(self, state: Optional[GroupingState], now_ts: float) -> Step:
        """The event-time clock reached ``now_ts``: close what is due."""
        state = state or GroupingState()
        grouper = PlateGrouper(self.cfg, state.groups)
        step = Step(state, closed=grouper.flush_ready(now_ts))
        state.groups = grouper.groups
        step.wake_at = grouper.next_deadline()
        return self._observe(step)

    def flush(self, state: Optional[GroupingState]) -> Step:
        """End of a bounded input: close every open group."""
        state = state or GroupingState()
        grouper = PlateGrouper(self.cfg, state.groups)
        step = Step(state, closed=grouper.flush_all())
        state.groups = []
        return self._observe(step)

    def run(self, reads: Iterable[PlateRead], state: Optional[GroupingState] = None,
            until: Optional[float] = None) -> Step:
        """Feed reads (capture order) then advance the clock to ``until`` (``None``: the input
        is complete, close everything). Returns the combined step (tests, bare loops)."""
        total = Step(state or GroupingState())
        for r in sorted(reads, key=lambda r: (r.capture_ts, r.read_id)):
            s = self.on_read(total.state, r)
            total.closed += s.closed
            total.confirmed += s.confirmed
        end = self.flush(total.state) if until is None else self.on_timer(total.state, until)
        total.closed += end.closed
        total.wake_at = end.wake_at
        return total
