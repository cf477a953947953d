"""Small, named Beam transforms: one per pipeline stage.

``ReadFrames`` -> ``DecodeFrames`` -> ``RecognizePlates`` -> ``GroupPlates`` ->
``MatchHotlist`` -> ``DedupeAlerts``, with sinks ``WriteReads``, ``WriteGroups``,
``WriteAlerts`` and ``WriteDeadLetters``. Every stage that can reject an element has a
``dead_letter`` output carrying a :class:`~alpr.records.DeadLetter` with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import threading
import time
from pathlib import Path
from typing import Optional, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from alpr.config import GroupingConfig, Settings
from alpr.connectors.stores import open_store
from alpr.observability import metrics as obs
from alpr.pipelines.grouping import PlateGrouper, is_confirmed
from alpr.records import DEAD, MAX_DEAD_LETTER_PAYLOAD, Alert, DeadLetter, Frame, HotlistEntry, PlateGroup, PlateRead, stable_id

log = logging.getLogger(__name__)
NS = "alpr"


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


def dead_letter(stage: str, reason: str, key: str, payload: bytes = b"", detail: str = "") -> DeadLetter:
    Metrics.counter(NS, f"dead_letters_{stage}").inc()
    obs.observe_dead_letter(stage, reason)
    return DeadLetter(stage=stage, reason=reason, key=key, ts=time.time(), payload=payload, detail=detail)


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
    def process(self, frame: Frame):
        from alpr.inference.recognizer import FrameDecodeError, decode_image

        obs.observe_frame(frame.camera_id, frame.agency, frame.capture_ts)
        try:
            image = decode_image(frame.data)
        except FrameDecodeError as exc:
            obs.observe_decode_failure(frame.camera_id, frame.agency)
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(
                "decode", str(exc), frame.frame_id, frame.data[:MAX_DEAD_LETTER_PAYLOAD],
                detail=f"camera={frame.camera_id} seq={frame.seq} bytes={len(frame.data)}"))
            return
        Metrics.counter(NS, "frames_decoded").inc()
        obs.observe_decoded(frame.camera_id, frame.agency)
        yield dataclasses.replace(frame, data=b""), image


class DecodeFrames(beam.PTransform):
    """Frame -> (frame metadata, BGR image); corrupt/empty/oversized frames go to ``dead_letter``."""

    def expand(self, frames):
        return frames | "Decode" >> beam.ParDo(_DecodeFn()).with_outputs(DEAD, main="images")


# --------------------------------------------------------------------------- inference
def model_handler(settings: Settings):
    """The recognizer wrapped for RunInference; the backend is built on the worker."""
    from alpr.inference.handlers import PlateModelHandler

    return PlateModelHandler(backend_factory=backend_factory(settings.inference), topn=settings.topn,
                             max_batch_size=settings.batch_size)


class _BackendFactory:
    """Picklable factory: ``onnx`` (in-process) or ``triton://host:port``."""

    def __init__(self, spec: str):
        self.spec = spec

    def __call__(self):
        from alpr.observability.instrument import InstrumentedBackend

        if self.spec == "onnx":
            from alpr.inference.backends import OnnxBackend

            return InstrumentedBackend(OnnxBackend(), "onnx")
        from alpr.inference.triton_backend import TritonBackend

        return InstrumentedBackend(TritonBackend(url=self.spec[len("triton://"):]), "triton")


def backend_factory(spec: str) -> _BackendFactory:
    return _BackendFactory(spec)


class _ToReads(beam.DoFn):
    def process(self, keyed):
        frame, result = keyed
        plates = result.inference if isinstance(result, PredictionResult) else result
        image = result.example if isinstance(result, PredictionResult) else None
        h, w = (image.shape[:2] if image is not None else (0, 0))
        Metrics.distribution(NS, "plates_per_frame").update(len(plates))
        obs.observe_reads(frame.camera_id, frame.agency, len(plates))
        for i, p in enumerate(plates):
            Metrics.counter(NS, "reads").inc()
            yield PlateRead(
                read_id=stable_id("read", frame.frame_id, i, p.plate),
                frame_id=frame.frame_id, camera_id=frame.camera_id, agency=frame.agency,
                capture_ts=frame.capture_ts, plate=p.plate, confidence=float(p.confidence),
                coordinates=tuple((float(x), float(y)) for x, y in p.coordinates),
                candidates=tuple(p.candidates), img_width=int(w), img_height=int(h), seq=frame.seq)


class _FailedBatch(beam.DoFn):
    def process(self, failed):
        batch, exc = failed
        obs.observe_failed_batch()
        import cv2

        for item in batch if isinstance(batch, (list, tuple)) else [batch]:
            frame, image = item if isinstance(item, tuple) and len(item) == 2 else (None, None)
            key = frame.frame_id if isinstance(frame, Frame) else "unknown"
            payload = b""  # the frame itself (re-encoded JPEG), so the dead letter can be replayed
            if image is not None:
                ok, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
                payload = jpg.tobytes() if ok else b""
            detail = (f"camera={frame.camera_id} agency={frame.agency} seq={frame.seq} "
                      f"capture_ts={frame.capture_ts!r}") if isinstance(frame, Frame) else ""
            yield dead_letter("inference", f"inference failed: {type(exc).__name__}: {exc}", key, payload, detail)


class RecognizePlates(beam.PTransform):
    """(frame, image) -> PlateRead per plate, through Beam's RunInference with batching.
    A batch the backend keeps failing on goes to ``dead_letter`` (never into silence)."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, images):
        main, other = images | "RunInference" >> RunInference(
            KeyedModelHandler(model_handler(self.settings))).with_exception_handling()
        reads = main | "ToReads" >> beam.ParDo(_ToReads())
        failed = other.failed_inferences | "FailedBatches" >> beam.ParDo(_FailedBatch())
        return {"reads": reads, DEAD: failed}


# --------------------------------------------------------------------------- grouping
TIMER_RESOLUTION_S = 1e-3  # event-time timers fire with millisecond timestamps


def _timer_ts(t: float) -> float:
    """``t`` rounded *up* to the timer resolution, so a timer never fires before its deadline
    (a truncated fire time would re-arm the same timer forever)."""
    return math.ceil(round(t * 1000, 3)) / 1000


class _GroupFn(beam.DoFn):
    """Per-camera grouping with event-time state and timers (no processing-time triggers:
    they crash the Python DirectRunner). Reads are buffered until the watermark passes
    them, then fed to :class:`PlateGrouper` in capture order."""

    PENDING = BagStateSpec("pending", PickleCoder())
    OPEN = ReadModifyWriteStateSpec("open", PickleCoder())
    TARGET = ReadModifyWriteStateSpec("target", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

    def __init__(self, cfg: GroupingConfig):
        self.cfg = cfg

    def process(self, kv, pending=beam.DoFn.StateParam(PENDING), target=beam.DoFn.StateParam(TARGET),
                timer=beam.DoFn.TimerParam(FLUSH)):
        _, read = kv
        pending.add(read)
        due = _timer_ts(read.capture_ts + min(self.cfg.time_delta_s, self.cfg.max_delay_s))
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
        grouper = PlateGrouper(self.cfg, open_state.read() or [])
        out: list[PlateGroup] = []
        for r in ready:
            out += grouper.flush_ready(r.capture_ts)
            out += grouper.add(r)
        out += grouper.flush_ready(now + TIMER_RESOLUTION_S)  # the timer fired in this millisecond
        open_state.write(grouper.groups)
        deadlines = [d for d in (grouper.next_deadline(),
                                 (later[0].capture_ts + self.cfg.time_delta_s) if later else None) if d]
        if deadlines:
            nxt = max(_timer_ts(min(deadlines)), _timer_ts(now) + TIMER_RESOLUTION_S)
            timer.set(nxt)
            target.write(nxt)
        else:
            target.clear()
        for g in out:
            Metrics.counter(NS, "plate_groups").inc()
            obs.observe_group(g.camera_id, g.agency)
            yield TimestampedValue(g, now)


class GroupPlates(beam.PTransform):
    """PlateRead -> PlateGroup, one per vehicle passage per camera (voted best plate)."""

    def __init__(self, cfg: GroupingConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, reads):
        return (reads
                | "KeyByCamera" >> beam.Map(lambda r: (r.camera_id, r)).with_output_types(Tuple[str, PlateRead])
                | "Group" >> beam.ParDo(_GroupFn(self.cfg)))


# --------------------------------------------------------------------------- hotlist match
def group_alert(group: PlateGroup, hit, emitted_ts: Optional[float] = None) -> Alert:
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


class _MatchFn(beam.DoFn):
    """Holds the hotlist index in memory; reloads when the store's hotlist version changes
    (works the same on every runner, unlike refreshing side inputs)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._reloader = None
        self._side = None
        self._side_key = None

    def setup(self):
        from alpr.hotlist.reload import ReloadingMatcher

        self._store = shared_store(self.settings.store)
        self._reloader = ReloadingMatcher(self._store, refresh_s=self.settings.hotlist_refresh_s)

    def _matchers(self, side_entries) -> list:
        from alpr.hotlist.matcher import HotlistMatcher

        stored = self._reloader.matcher()
        if stored is not getattr(self, "_observed", None):  # (re)loaded: size/age per list
            self._observed = stored
            obs.observe_hotlist(getattr(stored, "entries", ()), version=getattr(self._reloader, "version", None))
        if not side_entries:
            return [stored]
        if self._side_key != len(side_entries):  # side input: built once per worker
            self._side = HotlistMatcher.build(side_entries)
            self._side_key = len(side_entries)
        return [stored, self._side]

    def _hits(self, group: PlateGroup, side_entries) -> list:
        cands = [(c.plate, c.confidence) for c in group.candidates]
        best: dict = {}
        for m in self._matchers(side_entries):
            for h in m.match_candidates(cands, best_plate=group.best_plate):
                prev = best.get(h.entry.entry_id)
                if prev is None or h.distance < prev.distance:
                    best[h.entry.entry_id] = h
        return list(best.values())

    def process(self, group: PlateGroup, side_entries=()):
        if not is_confirmed(group, self.settings.grouping):
            Metrics.counter(NS, "groups_unconfirmed").inc()
            obs.observe_group(group.camera_id, group.agency, confirmed=False)
            return
        for hit in self._hits(group, side_entries):
            Metrics.counter(NS, f"hits_{hit.match_type}").inc()
            obs.observe_hit(hit.entry.list_code, hit.match_type)
            yield group_alert(group, hit)

    def teardown(self):
        if getattr(self, "_store", None) is not None:
            release_store(self._store)


class MatchHotlist(beam.PTransform):
    """Confirmed PlateGroup -> Alert for every hotlist hit over all its candidates.
    Entries come from the store (live, reloaded on version change) and optionally from
    a side input of entries (e.g. a hotlist file given on the command line)."""

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
    LAST = ReadModifyWriteStateSpec("last_alert_ts", PickleCoder())

    def __init__(self, window_s: float):
        self.window_s = window_s

    def process(self, kv, last=beam.DoFn.StateParam(LAST)):
        _, alert = kv
        prev = last.read()
        if prev is not None and abs(alert.capture_ts - prev) < self.window_s:
            Metrics.counter(NS, "alerts_deduplicated").inc()
            obs.observe_alert_deduplicated(alert.list_code)
            return
        last.write(alert.capture_ts)
        Metrics.counter(NS, "alerts").inc()
        obs.observe_alert(alert.list_code, alert.agency, alert.capture_ts, alert.emitted_ts)
        yield alert


class DedupeAlerts(beam.PTransform):
    """One alert per (agency, entry, plate) per dedupe window."""

    def __init__(self, window_s: float):
        super().__init__()
        self.window_s = window_s

    def expand(self, alerts):
        return (alerts
                | "KeyByEntryPlate" >> beam.Map(
                    lambda a: (f"{a.agency}|{a.entry_id}|{a.read_plate}", a)).with_output_types(Tuple[str, Alert])
                | "Dedupe" >> beam.ParDo(_DedupeFn(self.window_s)))


# --------------------------------------------------------------------------- sinks
class _StoreWriter(beam.DoFn):
    """Buffers records and writes them to the store at bundle end (or every ``batch``)."""

    def __init__(self, store_spec: str, method: str, ttl_s: int, printer=None, batch: int = 200):
        self.store_spec, self.method, self.ttl_s, self.printer, self.batch = store_spec, method, ttl_s, printer, batch

    def setup(self):
        self._store = shared_store(self.store_spec)

    def start_bundle(self):
        self._buf = []

    def process(self, record):
        self._buf.append(record)
        if self.printer:
            self.printer(record)
        if len(self._buf) >= self.batch:
            self._flush()

    def _flush(self):
        if self._buf:
            backend, table = obs.store_backend(self.store_spec), self.method.replace("put_", "")
            t0 = time.perf_counter()
            try:
                getattr(self._store, self.method)(self._buf, self.ttl_s)
            except Exception:
                obs.observe_store_write(backend, table, len(self._buf), time.perf_counter() - t0, ok=False)
                raise
            obs.observe_store_write(backend, table, len(self._buf), time.perf_counter() - t0)
            self._buf = []

    def finish_bundle(self):
        self._flush()

    def teardown(self):
        if getattr(self, "_store", None) is not None:
            release_store(self._store)


def print_read(r: PlateRead) -> None:
    alts = ", ".join(f"{c.plate}:{c.confidence:.0f}" for c in r.candidates[1:4])
    print(f"READ  {r.camera_id} #{r.seq:<4} {r.plate:<10} {r.confidence:5.1f}%  [{alts}]", flush=True)


def print_group(g: PlateGroup) -> None:
    print(f"GROUP {g.camera_id} frames {g.frame_start}-{g.frame_end} {g.best_plate:<10} "
          f"{g.best_confidence:5.1f}% reads={g.num_reads}", flush=True)


def print_alert(a: Alert) -> None:
    print(f"ALERT {a.camera_id} {a.read_plate} -> {a.entry_plate} list={a.list_code} "
          f"{a.match_type} d={a.distance} case={a.case_number or '-'} {a.description}", flush=True)


class WriteReads(beam.PTransform):
    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, reads):
        s = self.settings
        return reads | "StoreReads" >> beam.ParDo(
            _StoreWriter(s.store, "put_reads", s.ttl_s, print_read if s.print_results else None))


class WriteGroups(beam.PTransform):
    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, groups):
        s = self.settings
        return groups | "StoreGroups" >> beam.ParDo(
            _StoreWriter(s.store, "put_groups", s.ttl_s, print_group if s.print_results else None))


class _JsonlWriter(beam.DoFn):
    def __init__(self, path: str):
        self.path = path

    def setup(self):
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def process(self, record):
        self._fh.write(record.to_json() + "\n")
        self._fh.flush()

    def teardown(self):
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()


class WriteAlerts(beam.PTransform):
    """Alerts to the store and to the configured sink (JSONL file or the Kafka alerts topic)."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, alerts):
        s = self.settings
        alerts | "StoreAlerts" >> beam.ParDo(
            _StoreWriter(s.store, "put_alerts", s.ttl_s, print_alert if s.print_results else None, batch=1))
        if s.alerts_sink.startswith("jsonl:"):
            return alerts | "AlertsJsonl" >> beam.ParDo(_JsonlWriter(s.alerts_sink[len("jsonl:"):]))
        if s.alerts_sink == "kafka":
            from alpr.connectors.kafka import WriteAlertsToKafka

            return alerts | "AlertsKafka" >> WriteAlertsToKafka(s.kafka)
        raise ValueError(f"unknown alerts_sink {s.alerts_sink!r}")


class WriteDeadLetters(beam.PTransform):
    """Dead letters to the store (always) and to the Kafka dead-letter topic if configured."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, letters):
        s = self.settings

        def show(d: DeadLetter) -> None:
            if s.print_results:
                print(f"DEAD  {d.stage}: {d.key}: {d.reason}", file=sys.stderr, flush=True)

        out = letters | "StoreDeadLetters" >> beam.ParDo(_StoreWriter(s.store, "put_dead_letters", s.ttl_s, show))
        if s.deadletter_sink == "kafka":
            from alpr.connectors.kafka import WriteDeadLettersToKafka

            letters | "DeadLettersKafka" >> WriteDeadLettersToKafka(s.kafka)
        elif s.deadletter_sink.startswith("jsonl:"):
            letters | "DeadLettersJsonl" >> beam.ParDo(_JsonlWriter(s.deadletter_sink[len("jsonl:"):]))
        return out
