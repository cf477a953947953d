"""Small, named Beam transforms, one per stage, each a thin shell around the core stage.

``ReadFrames`` -> ``DecodeFrames`` -> ``RecognizePlates`` -> ``GroupPlates`` ->
``MatchHotlist`` -> ``DedupeAlerts``. Every stage that can reject an element has a
``dead_letter`` output carrying a :class:`~alpr.records.DeadLetter` with the reason.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Optional, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from alpr.config import GroupingConfig, Settings
from alpr.connectors.stores import open_store
from alpr.observability import metrics as obs
from alpr.pipelines.core.decode import decode
from alpr.pipelines.core.dedupe import DedupeStage, dedupe_key
from alpr.pipelines.core.grouping import GroupingStage, is_confirmed
from alpr.pipelines.core.matching import MatchStage
from alpr.pipelines.core.recognize import RecognizeStage
from alpr.records import DEAD, Alert, DeadLetter, Frame, PlateGroup, PlateRead

NS = "alpr"
CONFIRMED = "confirmed"  # tagged output of GroupPlates: open groups just confirmed

_STORES: dict = {}  # spec -> [store, users]: one connection/session per worker process
_STORES_LOCK = threading.Lock()


def shared_store(spec: str):
    """The worker process's store for ``spec``: every sink and the matcher share one Cassandra
    session (or SQLite connection) instead of opening one each."""
    with _STORES_LOCK:
        entry = _STORES.get(spec)
        if entry is None:
            entry = _STORES[spec] = [open_store(spec), 0]
        entry[1] += 1
        return entry[0]


def release_store(store) -> None:
    with _STORES_LOCK:
        for spec, entry in list(_STORES.items()):
            if entry[0] is store:
                entry[1] -= 1
                if entry[1] <= 0:
                    del _STORES[spec]
                    store.close()
                return


def count_dead(letter: DeadLetter) -> DeadLetter:
    Metrics.counter(NS, f"dead_letters_{letter.stage}").inc()
    return letter


# --------------------------------------------------------------------------- sources
class _ExpandSource(beam.DoFn):
    def __init__(self, settings: Settings):
        self.settings = settings

    def process(self, spec: str):
        from alpr.connectors.camera.sources import open_source

        s = self.settings
        # a synthetic camera is live: its clip starts now (so retention and latency are real)
        kw = dict(seed=s.seed, start_ts=time.time()) if spec.startswith("synthetic") else {}
        for frame in open_source(spec, camera_id=s.camera_id, agency=s.agency, **kw):
            Metrics.counter(NS, "frames_in").inc()
            yield TimestampedValue(frame, frame.capture_ts)


class ReadFrames(beam.PTransform):
    """Bounded frame source (synthetic camera, image folder or video file), event-timestamped
    at capture time."""

    def __init__(self, settings: Settings, spec: Optional[str] = None):
        super().__init__()
        self.settings = settings
        self.spec = spec or settings.source

    def expand(self, pbegin):
        return pbegin | "Spec" >> beam.Create([self.spec]) | "Frames" >> beam.ParDo(_ExpandSource(self.settings))


# --------------------------------------------------------------------------- decode
class _DecodeFn(beam.DoFn):
    def __init__(self, pixels: bool = True):
        self.pixels = pixels

    def process(self, frame: Frame):
        out = decode(frame, pixels=self.pixels)
        if isinstance(out, DeadLetter):
            yield beam.pvalue.TaggedOutput(DEAD, count_dead(out))
            return
        Metrics.counter(NS, "frames_decoded").inc()
        yield out


class DecodeFrames(beam.PTransform):
    """Frame -> DecodedFrame; corrupt/empty/oversized frames go to ``dead_letter``. With
    ``pixels=False`` (the inference server decodes) only the header checks run here."""

    def __init__(self, pixels: bool = True):
        super().__init__()
        self.pixels = pixels

    def expand(self, frames):
        return frames | "Decode" >> beam.ParDo(_DecodeFn(self.pixels)).with_outputs(DEAD, main="images")


# --------------------------------------------------------------------------- inference
class _RecognizeFn(beam.DoFn):
    def __init__(self, settings: Settings):
        self.settings = settings

    def setup(self):
        self._stage = RecognizeStage.from_settings(self.settings)

    def process(self, batch):
        reads, dead = self._stage.run(list(batch))
        Metrics.distribution(NS, "batch_size").update(len(batch))
        for r in reads:  # batches leave BatchElements at the window's end: restore event time
            Metrics.counter(NS, "reads").inc()
            yield TimestampedValue(r, r.capture_ts)
        for d in dead:
            if d.stage == "decode":  # the server decodes (triton+frames://): counted as decoded before
                Metrics.counter(NS, "frames_decoded").dec()
            yield beam.pvalue.TaggedOutput(DEAD, count_dead(d))

    def teardown(self):
        if getattr(self, "_stage", None) is not None:
            self._stage.close()


class RecognizePlates(beam.PTransform):
    """DecodedFrame -> PlateRead per plate, in batches of up to ``batch_size`` frames. A batch
    the backend keeps failing on goes to ``dead_letter`` (never into silence)."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, images):
        out = (images
               | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.settings.batch_size)
               | "Recognize" >> beam.ParDo(_RecognizeFn(self.settings)).with_outputs(DEAD, main="reads"))
        return {"reads": out.reads, DEAD: out[DEAD]}


# --------------------------------------------------------------------------- grouping
TIMER_RESOLUTION_S = 1e-3  # event-time timers fire with millisecond timestamps


def _timer_ts(t: float) -> float:
    """``t`` rounded *up* to the timer resolution, so a timer never fires before its deadline
    (a truncated fire time would re-arm the same timer forever)."""
    return math.ceil(round(t * 1000, 3)) / 1000


class _GroupFn(beam.DoFn):
    """Per-camera :class:`GroupingStage` in keyed state. Reads wait in a bag until the watermark
    passes them and are then fed in capture order; the stage's ``wake_at`` becomes the timer."""

    PENDING = BagStateSpec("pending", PickleCoder())
    OPEN = ReadModifyWriteStateSpec("open", PickleCoder())
    TARGET = ReadModifyWriteStateSpec("target", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

    def __init__(self, cfg: GroupingConfig):
        self.cfg = cfg

    def setup(self):
        self._stage = GroupingStage(self.cfg)

    def process(self, kv, pending=beam.DoFn.StateParam(PENDING), target=beam.DoFn.StateParam(TARGET),
                timer=beam.DoFn.TimerParam(FLUSH)):
        _, read = kv
        pending.add(read)
        due = _timer_ts(read.capture_ts)
        current = target.read()
        if current is None or due < current:
            timer.set(due)
            target.write(due)

    @on_timer(FLUSH)
    def flush(self, fire_ts=beam.DoFn.TimestampParam, pending=beam.DoFn.StateParam(PENDING),
              open_state=beam.DoFn.StateParam(OPEN), target=beam.DoFn.StateParam(TARGET),
              timer=beam.DoFn.TimerParam(FLUSH)):
        now = float(fire_ts)
        reads = sorted(pending.read(), key=lambda r: (r.capture_ts, r.read_id))
        ready = [r for r in reads if r.capture_ts <= now]
        later = [r for r in reads if r.capture_ts > now]
        pending.clear()
        for r in later:
            pending.add(r)
        state = open_state.read()
        closed: list[PlateGroup] = []
        confirmed: list[PlateGroup] = []
        for r in ready:
            step = self._stage.on_read(state, r)
            state = step.state
            closed += step.closed
            confirmed += step.confirmed
        step = self._stage.on_timer(state, now + TIMER_RESOLUTION_S)  # the timer fired in this millisecond
        closed += step.closed
        open_state.write(step.state)
        deadlines = [d for d in (step.wake_at, later[0].capture_ts if later else None) if d is not None]
        if deadlines:
            nxt = max(_timer_ts(min(deadlines)), _timer_ts(now) + TIMER_RESOLUTION_S)
            timer.set(nxt)
            target.write(nxt)
        else:
            target.clear()
        for g in confirmed:
            yield beam.pvalue.TaggedOutput(CONFIRMED, TimestampedValue(g, now))
        for g in closed:
            Metrics.counter(NS, "plate_groups").inc()
            if not is_confirmed(g, self.cfg):
                Metrics.counter(NS, "groups_unconfirmed").inc()
            yield TimestampedValue(g, now)


class GroupPlates(beam.PTransform):
    """PlateRead -> PlateGroup, one per vehicle passage per camera (voted best plate). With
    ``with_confirmed``, the outputs are ``groups`` (closed) and ``confirmed`` (open groups as
    soon as they are confirmed, and again when their best plate changes)."""

    def __init__(self, cfg: GroupingConfig, with_confirmed: bool = False):
        super().__init__()
        self.cfg = cfg
        self.with_confirmed = with_confirmed

    def expand(self, reads):
        out = (reads
               | "KeyByCamera" >> beam.Map(lambda r: (r.camera_id, r)).with_output_types(Tuple[str, PlateRead])
               | "Group" >> beam.ParDo(_GroupFn(self.cfg)).with_outputs(CONFIRMED, main="groups"))
        return out if self.with_confirmed else out.groups


# --------------------------------------------------------------------------- hotlist match
class _MatchFn(beam.DoFn):
    """Holds the hotlist index in memory; reloads when the store's hotlist version changes
    (works the same on every runner, unlike refreshing side inputs). Agreements between agencies
    come from the governance store (:func:`alpr.governance.agreement_feed.engine_agreements`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._reloader = None
        self._side = None
        self._side_key = None

    def setup(self):
        from alpr.hotlist.reload import ReloadingMatcher

        self._store = shared_store(self.settings.store)
        self._reloader = ReloadingMatcher(self._store, refresh_s=self.settings.hotlist_refresh_s)
        # hotlist agreements (an agency's entries on another agency's cameras): approved in the
        # governance store ($ALPR_GOV_DB_PATH), reloaded on the hotlist refresh period
        from alpr.governance.agreement_feed import engine_agreements

        self._stage = MatchStage(self._stored, agreements=engine_agreements(self.settings.hotlist_refresh_s))

    def _stored(self):
        stored = self._reloader.matcher()
        if stored is not getattr(self, "_observed", None):  # (re)loaded: size/age per list
            self._observed = stored
            obs.observe_hotlist(getattr(stored, "entries", ()), version=getattr(self._reloader, "version", None))
        return stored

    def _extra(self, side_entries) -> tuple:
        from alpr.hotlist.matcher import HotlistMatcher

        if not side_entries:
            return ()
        if self._side_key != len(side_entries):  # side input: built once per worker
            self._side = HotlistMatcher.build(side_entries)
            self._side_key = len(side_entries)
        return (self._side,)

    def process(self, group: PlateGroup, side_entries=()):
        if not is_confirmed(group, self.settings.grouping):
            return
        for alert in self._stage.alerts(group, extra=self._extra(side_entries)):
            Metrics.counter(NS, f"hits_{alert.match_type}").inc()
            yield alert

    def teardown(self):
        if getattr(self, "_store", None) is not None:
            release_store(self._store)


class MatchHotlist(beam.PTransform):
    """Confirmed PlateGroup -> Alert for every hotlist hit over all its candidates, scoped to
    the camera's agency. Entries come from the store (live, reloaded on version change) and
    optionally from a side input of entries (a hotlist file given on the command line)."""

    def __init__(self, settings: Settings, side_entries=None):
        super().__init__()
        self.settings = settings
        self.side_entries = side_entries

    def expand(self, groups):
        if self.side_entries is None:
            return groups | "Match" >> beam.ParDo(_MatchFn(self.settings))
        return groups | "Match" >> beam.ParDo(_MatchFn(self.settings),
                                              side_entries=beam.pvalue.AsList(self.side_entries))


class _DedupeFn(beam.DoFn):
    """Keyed :class:`DedupeStage`: alerts wait until the watermark passes them and are then
    taken in event-time order, so the first alert of a vehicle is the one kept."""

    # names unique across the pipeline: the FnApiRunner mixes up same-named state and timers
    # of two stateful DoFns fused into one stage (GroupPlates uses pending/target/flush)
    PENDING = BagStateSpec("alerts_pending", PickleCoder())
    STATE = ReadModifyWriteStateSpec("dedupe", PickleCoder())
    TARGET = ReadModifyWriteStateSpec("alerts_target", PickleCoder())
    FLUSH = TimerSpec("alerts_flush", TimeDomain.WATERMARK)

    def __init__(self, window_s: float):
        self.window_s = window_s

    def setup(self):
        self._stage = DedupeStage(self.window_s)

    def process(self, kv, ts=beam.DoFn.TimestampParam, pending=beam.DoFn.StateParam(PENDING),
                target=beam.DoFn.StateParam(TARGET), timer=beam.DoFn.TimerParam(FLUSH)):
        pending.add((float(ts), kv[1]))
        current = target.read()
        if current is None or float(ts) < current:
            timer.set(ts)
            target.write(float(ts))

    @on_timer(FLUSH)
    def flush(self, fire_ts=beam.DoFn.TimestampParam, pending=beam.DoFn.StateParam(PENDING),
              state=beam.DoFn.StateParam(STATE), target=beam.DoFn.StateParam(TARGET),
              timer=beam.DoFn.TimerParam(FLUSH)):
        now = float(fire_ts)
        items = sorted(pending.read(), key=lambda t: (t[0], t[1].alert_id, t[1].read_plate))
        pending.clear()
        later = [(t, a) for t, a in items if t > now]
        for t, a in later:
            pending.add((t, a))
        st = state.read()
        for _, alert in ((t, a) for t, a in items if t <= now):
            st, emit = self._stage.dedupe(st, alert)
            if emit:
                Metrics.counter(NS, "alerts").inc()
                yield alert
            else:
                Metrics.counter(NS, "alerts_deduplicated").inc()
        state.write(st)
        if later:
            timer.set(later[0][0])
            target.write(later[0][0])
        else:
            target.clear()


class DedupeAlerts(beam.PTransform):
    """At most one alert per (receiving agency, entry) per vehicle and per ``window_s``."""

    def __init__(self, window_s: float):
        super().__init__()
        self.window_s = window_s

    def expand(self, alerts):
        return (alerts
                | "KeyByAgencyEntry" >> beam.Map(lambda a: (dedupe_key(a), a)).with_output_types(Tuple[str, Alert])
                | "Dedupe" >> beam.ParDo(_DedupeFn(self.window_s)))
