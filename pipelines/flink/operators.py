"""PyFlink operators of the ALPR job: thin shells around :mod:`alpr.pipelines.core`.

Imported only inside the Flink job environment (PyFlink 2.2). Every operator keeps its Flink
state small and reads it once per element (an uncached state read from Python costs ~0.8 ms):

* :class:`ParseFrames`      envelope -> Frame (bad headers -> dead letter)
* :class:`RecognizeBatches` keyed by recognition shard: frames wait in ``ListState`` until
  ``batch_size`` are there, ``batch_delay_ms`` passed (processing-time timer) or the watermark
  reaches the oldest of them (event-time timer: a watermark never overtakes a buffered frame,
  so no read arrives late at grouping), then decode and one recognition call per batch
  (several frames, several cameras per request)
* :class:`GroupAndMatch`    keyed by camera, connected to the hotlist broadcast: the grouping
  state machine in one ``ValueState`` with event-time timers (a group whose reads came in behind
  the watermark closes on processing time); confirmed open groups are matched at once against
  the broadcast hotlist snapshot (changes applied one at a time)
* :class:`DedupeAlerts`     keyed by (agency, entry): one alert per entry per vehicle, state TTL
* :class:`WriteStore`       reads/groups/alerts/dead letters to the store, TTL from capture time
  (these two and the Kafka message mappers live in :mod:`.sink_operators`)
"""

from __future__ import annotations

import logging
import math
import time
from typing import Optional

from pyflink.common import Types
from pyflink.datastream import OutputTag, TimeDomain
from pyflink.datastream.functions import (FlatMapFunction, KeyedBroadcastProcessFunction, KeyedProcessFunction,
                                          KeySelector, ProcessFunction, RuntimeContext)
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor

from alpr.config import Settings
from alpr.pipelines.flink.envelope import H_AGENCY, H_CAMERA, H_SEQ, EnvelopeError, decode_record, record_to_frame
from alpr.records import DEAD, AgreementChange, Alert, DeadLetter, Frame, HotlistChange, PlateGroup, stable_id

# the job (``op.WriteStore`` ...) takes every operator from here
from .sink_operators import AlertMessage, DeadLetterMessage, DedupeAlerts, WriteStore  # noqa: F401

log = logging.getLogger(__name__)

PICKLED = Types.PICKLED_BYTE_ARRAY()
BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
DEAD_TAG = OutputTag(DEAD, PICKLED)
GROUPS_TAG = OutputTag("groups", PICKLED)
HOTLIST_STATE = MapStateDescriptor("hotlist", Types.STRING(), PICKLED)


def _dead(stage: str, reason: str, key: str, payload: bytes = b"", detail: str = "") -> DeadLetter:
    from alpr.pipelines.core.deadletters import dead_letter

    return dead_letter(stage, reason, key, payload, detail)


def _ms(ts: float) -> int:
    """Event time in ms, rounded up (a timer never fires before its deadline)."""
    return int(math.ceil(round(ts * 1000, 3)))


# --------------------------------------------------------------------------- parse
class ParseFrames(ProcessFunction):
    """A bad record's dead letter is the Beam Kafka source's: key ``topic[partition]@offset``,
    the headers it had in ``detail``, the value as payload."""

    def __init__(self, topic: str = ""):
        self.topic = topic

    def open(self, ctx: RuntimeContext):
        g = ctx.get_metrics_group().add_group("alpr")
        self.frames_in = g.counter("frames_in")
        self.dead = g.counter("dead_letters")

    def process_element(self, envelope, ctx):
        self.frames_in.inc()
        try:
            rec = decode_record(bytes(envelope))
        except EnvelopeError as exc:
            self.dead.inc()
            yield DEAD_TAG, _dead("source", str(exc), "unknown")
            return
        try:
            frame = record_to_frame(rec)
        except ValueError as exc:
            self.dead.inc()
            detail = (f"camera={rec.header(H_CAMERA) or '?'} agency={rec.header(H_AGENCY) or '?'} "
                      f"seq={rec.header(H_SEQ) or '?'}")
            yield DEAD_TAG, _dead("source", str(exc), f"{self.topic}[{rec.partition}]@{rec.offset}",
                                  rec.value() or b"", detail=detail)
            return
        yield frame


class ShardKey(KeySelector):
    """Recognition shard of a camera: frames of one camera stay in order on one subtask; a
    shard batches the frames of all its cameras."""

    def __init__(self, shards: int):
        self.shards = max(1, int(shards))

    def get_key(self, frame: Frame) -> int:
        import zlib

        return zlib.crc32(frame.camera_id.encode()) % self.shards


class CameraKey(KeySelector):
    def get_key(self, record) -> str:
        return record.camera_id


class DedupeKey(KeySelector):
    def get_key(self, alert: Alert) -> str:
        from alpr.pipelines.core.dedupe import dedupe_key

        return dedupe_key(alert)


# --------------------------------------------------------------------------- recognize
class RecognizeBatches(KeyedProcessFunction):
    def __init__(self, settings: Settings, batch_delay_ms: int = 20):
        self.settings = settings
        self.batch_size = max(1, int(settings.batch_size))
        self.batch_delay_ms = max(1, int(batch_delay_ms))

    def open(self, ctx: RuntimeContext):
        from alpr.pipelines.core.recognize import RecognizeStage

        self.stage = RecognizeStage.from_settings(self.settings).open()
        self.pending = ctx.get_list_state(ListStateDescriptor("pending", PICKLED))
        # (frames pending, event-time timer ms, processing-time timer ms): one read per element
        self.batch = ctx.get_state(ValueStateDescriptor("batch", PICKLED))
        g = ctx.get_metrics_group().add_group("alpr")
        self.m_decoded = g.counter("frames_decoded")
        self.m_recognized = g.counter("frames_recognized")
        self.m_batches = g.counter("inference_batches")
        self.m_infer_ms = g.counter("inference_ms_total")
        self.m_reads = g.counter("reads")
        self.m_dead = g.counter("dead_letters")
        self.last_batch, self.last_ms = 0, 0.0
        g.gauge("inference_batch_size_last", lambda: self.last_batch)
        g.gauge("inference_latency_ms_last", lambda: int(self.last_ms))

    def close(self):
        stage = getattr(self, "stage", None)
        if stage is not None:
            stage.close()

    def process_element(self, frame: Frame, ctx):
        n, event_ms, proc_ms = self.batch.value() or (0, None, None)
        self.pending.add(frame)
        n += 1
        timers = ctx.timer_service()
        if n >= self.batch_size:
            self._cancel(timers, event_ms, proc_ms)
            self.batch.clear()
            yield from self._flush()
            return
        ts = ctx.timestamp()  # the capture time the KafkaSource assigned
        ts = _ms(frame.capture_ts) if ts is None else int(ts)
        if event_ms is None or ts < event_ms:
            if event_ms is not None:
                timers.delete_event_time_timer(event_ms)
            timers.register_event_time_timer(ts)
            event_ms = ts
        if proc_ms is None:
            proc_ms = timers.current_processing_time() + self.batch_delay_ms
            timers.register_processing_time_timer(proc_ms)
        self.batch.update((n, event_ms, proc_ms))

    def on_timer(self, timestamp: int, ctx):
        n, event_ms, proc_ms = self.batch.value() or (0, None, None)
        if n:
            self._cancel(ctx.timer_service(), event_ms, proc_ms)
            self.batch.clear()
            yield from self._flush()

    @staticmethod
    def _cancel(timers, event_ms, proc_ms) -> None:
        """Drop the batch's timers (deleting the one that is firing is a no-op)."""
        if event_ms is not None:
            timers.delete_event_time_timer(event_ms)
        if proc_ms is not None:
            timers.delete_processing_time_timer(proc_ms)

    def _flush(self):
        from alpr.pipelines.core.decode import DecodedFrame

        frames = list(self.pending.get() or [])
        self.pending.clear()
        batch = []
        for f in frames:
            d = self.stage.decode(f)  # header checks only when the server decodes (triton+frames://)
            if isinstance(d, DecodedFrame):
                batch.append(d)
            else:
                self.m_dead.inc()
                yield DEAD_TAG, d
        if not batch:
            return
        self.m_decoded.inc(len(batch))
        t0 = time.perf_counter()
        reads, dead = self.stage.run(batch)
        self.last_ms = (time.perf_counter() - t0) * 1000
        self.last_batch = len(batch)
        self.m_batches.inc()
        self.m_recognized.inc(len(batch))
        self.m_infer_ms.inc(int(round(self.last_ms)))
        for d in dead:
            self.m_dead.inc()
            if d.stage == "decode":  # the server decodes (triton+frames://): not decoded after all
                self.m_decoded.dec()
            yield DEAD_TAG, d
        if reads:
            self.m_reads.inc(len(reads))
            yield reads  # one element per batch: the reads sink writes it in one go


class Explode(FlatMapFunction):
    def flat_map(self, batch):
        yield from batch


# --------------------------------------------------------------------------- group + match
class GroupAndMatch(KeyedBroadcastProcessFunction):
    """Keyed by camera. Main output: alerts of groups confirmed while open; side outputs:
    closed groups (to store) and per-camera health records."""

    def __init__(self, settings: Settings, initial_entries=(), initial_agreements=(), agreements_db=None):
        self.settings = settings
        self.initial_entries = tuple(initial_entries)
        # hotlist agreements between agencies: the grants loaded at submission, reloaded from the
        # governance file every hotlist_refresh_s where this TaskManager can read it
        self.initial_agreements = tuple(initial_agreements)
        self.agreements_db = agreements_db

    def open(self, ctx: RuntimeContext):
        from alpr.governance.agreement_feed import engine_agreements
        from alpr.pipelines.core.agreements import TopicAgreements
        from alpr.pipelines.core.grouping import GroupingStage
        from alpr.pipelines.core.matching import MatchStage

        self.stage = GroupingStage(self.settings.grouping)
        self.snapshot = None  # built on first use: from initial entries + broadcast state
        # the agreements from the topic (broadcast state) over those from the governance file
        self.agreements = TopicAgreements(engine_agreements(
            self.settings.hotlist_refresh_s, self.agreements_db, fallback=self.initial_agreements))
        self.match = MatchStage(lambda: self.snapshot, agreements=self.agreements)
        self.state = ctx.get_state(ValueStateDescriptor("grouping", PICKLED))
        self.timer = ctx.get_state(ValueStateDescriptor("timer", Types.LONG()))
        self.late = ctx.get_state(ValueStateDescriptor("late-timer", Types.LONG()))
        self.late_grace_ms = int(math.ceil(self.settings.grouping.time_delta_s * 1000))
        g = ctx.get_metrics_group().add_group("alpr")
        self.m_groups = g.counter("plate_groups")
        self.m_confirmed = g.counter("groups_confirmed")
        self.m_hits = g.counter("hotlist_hits")
        self.m_changes = g.counter("hotlist_changes")
        g.gauge("hotlist_entries", lambda: len(self.snapshot) if self.snapshot is not None else 0)

    def _snapshot(self, ctx):
        if self.snapshot is None:
            from alpr.pipelines.core.matching import HotlistSnapshot

            snap = HotlistSnapshot.from_entries(self.initial_entries)
            changes = [c for _, c in ctx.get_broadcast_state(HOTLIST_STATE).items()]
            for c in sorted((c for c in changes if isinstance(c, AgreementChange)), key=lambda c: c.ts):
                self.agreements.apply(c)  # restored from a checkpoint
            self.snapshot = snap.apply_all(sorted((c for c in changes if isinstance(c, HotlistChange)),
                                                  key=lambda c: (c.ts, c.entry_id)))
        return self.snapshot

    def process_broadcast_element(self, change, ctx):
        self._snapshot(ctx)
        state = ctx.get_broadcast_state(HOTLIST_STATE)
        if isinstance(change, AgreementChange):  # approved, or revoked / expired (a tombstone)
            state.put(change.key, change)
            self.agreements.apply(change)
        else:
            state.put(change.entry_id, change)  # removes stay as tombstones: they mask initial entries
            self.snapshot = self.snapshot.apply(change)
        self.m_changes.inc()

    def _step(self, step, ctx, now: Optional[float]):
        self.state.update(step.state)
        for g in step.closed:
            self.m_groups.inc()
            yield GROUPS_TAG, g
        if step.confirmed:
            self._snapshot(ctx)
        for g in step.confirmed:
            self.m_confirmed.inc()
            for alert in self.match.alerts(g, g.agency, now=now):
                self.m_hits.inc()
                yield alert
        timers, ts, late_at = ctx.timer_service(), self.timer.value(), self.late.value()
        want = _ms(step.wake_at) if step.wake_at is not None else None
        # a deadline behind the watermark (late reads) waits for a next watermark that a quiet stream
        # never sends: close on processing time, time_delta_s after the last late read (catching up
        # runs at least as fast as real time, so a vehicle's next read comes sooner: one group)
        late = want is not None and want <= timers.current_watermark()
        if late_at is not None:
            timers.delete_processing_time_timer(late_at)
            self.late.clear()
        if late:
            want = None
            self.late.update(timers.current_processing_time() + self.late_grace_ms)
            timers.register_processing_time_timer(self.late.value())
        if ts is not None and ts != want:
            timers.delete_event_time_timer(ts)
        if want is not None and want != ts:
            timers.register_event_time_timer(want)
        if want is None:
            self.timer.clear()
        else:
            self.timer.update(want)

    def process_element(self, read, ctx):
        step = self.stage.on_read(self.state.value(), read)
        yield from self._step(step, ctx, read.capture_ts)

    def on_timer(self, timestamp: int, ctx):
        if ctx.time_domain() == TimeDomain.PROCESSING_TIME:  # late groups: close up to the watermark
            if self.late.value() != timestamp:
                return
            self.late.clear()
            timestamp = ctx.timer_service().current_watermark()
        else:
            self.timer.clear()
        step = self.stage.on_timer(self.state.value(), timestamp / 1000.0)
        yield from self._step(step, ctx, timestamp / 1000.0)


class ParseHotlist(ProcessFunction):
    """Hotlist topic envelope -> HotlistChange, or AgreementChange for a key ``agreement:<id>``
    (a Kafka tombstone = remove of the key)."""

    def open(self, ctx: RuntimeContext):
        from alpr.connectors.kafka_hotlist import hotlist_change_from_message

        self.parse = hotlist_change_from_message

    def process_element(self, envelope, ctx):
        try:
            rec = decode_record(bytes(envelope))
            yield self.parse(rec.key(), rec.value(), ts=rec.timestamp_ms / 1000.0)
        except Exception as exc:  # noqa: BLE001 - a bad change is a dead letter, never a crash loop
            yield DEAD_TAG, _dead("hotlist", f"bad hotlist change: {exc}", "hotlist", bytes(envelope)[:4096])


__all__ = ["ParseFrames", "ShardKey", "CameraKey", "DedupeKey", "RecognizeBatches", "Explode", "GroupAndMatch",
           "ParseHotlist", "DedupeAlerts", "WriteStore", "AlertMessage", "DeadLetterMessage",
           "DEAD_TAG", "GROUPS_TAG", "HOTLIST_STATE", "PICKLED", "BYTES", "stable_id", "PlateGroup"]
