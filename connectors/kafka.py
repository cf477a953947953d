"""Kafka connectors on confluent-kafka: the camera gateway, the frames source, the alert and
dead-letter sinks.

Why not Beam's cross-language ``ReadFromKafka``: it needs a Java SDK environment, which is a
Docker container by default, and there is no proven non-Docker path on the Python
DirectRunner. These Python transforms are the Beam pipeline's; the Flink job reads and writes
Kafka with Flink's own ``KafkaSource`` and ``KafkaSink`` instead (``alpr.pipelines.flink.job``).

The frames source here is for bounded replays and backfills on Beam (``alpr run --source
kafka``): at pipeline construction it plans, per partition, the range from the group's
committed offset to the high watermark; workers read exactly those ranges; the driver commits
the planned end offsets only after the pipeline has finished successfully (state DONE), i.e.
after every frame's reads, groups, alerts and dead letters are durable (:func:`commit_plan`).
A failed run commits nothing and its range is read again (ids are deterministic, so replays
overwrite the same rows and alerts are de-duplicated). The long-running streaming path is the
Flink job with Flink's own KafkaSource (``alpr.pipelines.flink``); there is no snapshot loop.
Live hotlists: :mod:`alpr.connectors.kafka_hotlist`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue

from alpr.config import KafkaConfig
from alpr.connectors.auth import kafka_client_config
from alpr.observability import metrics as obs
from alpr.records import Alert, DeadLetter, Frame

from .kafka_gateway import (ALERT_SCHEMA, H_AGENCY, H_CAMERA, H_DETAIL, H_KEY, H_REASON, H_SEQ,  # noqa: F401
                            H_SOURCE, H_STAGE, H_TS, CameraGateway, DeliveryError, _flush, _on_delivery,
                            frame_headers, producer_config, stream_rtsp)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- frames source
@dataclass(frozen=True)
class PartitionRange:
    topic: str
    partition: int
    start: int
    end: int  # exclusive


def plan_snapshot(cfg: KafkaConfig, timeout_s: float = 10.0) -> list[PartitionRange]:
    """Per partition: [committed offset of the group (or earliest), high watermark)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(kafka_client_config(cfg.bootstrap, cfg, **{"group.id": cfg.group_id,
                                                                   "enable.auto.commit": False}))
    try:
        meta = consumer.list_topics(cfg.frames_topic, timeout=timeout_s)
        topic = meta.topics.get(cfg.frames_topic)
        if topic is None or topic.error is not None:
            raise RuntimeError(f"frames topic {cfg.frames_topic!r} unavailable: {topic.error if topic else 'missing'}")
        tps = [TopicPartition(cfg.frames_topic, p) for p in sorted(topic.partitions)]
        committed = consumer.committed(tps, timeout=timeout_s)
        plan = []
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
            start = tp.offset if tp.offset >= 0 else low
            obs.set_kafka_lag(cfg.frames_topic, tp.partition, high - start, cfg.group_id)
            end = high if cfg.max_records is None else min(high, start + cfg.max_records)
            if end > start:
                plan.append(PartitionRange(cfg.frames_topic, tp.partition, start, end))
        return plan
    finally:
        consumer.close()


def commit_plan(cfg: KafkaConfig, plan: Sequence[PartitionRange], timeout_s: float = 10.0) -> None:
    """Commit the planned end offsets: call only once the pipeline's results are durable."""
    from confluent_kafka import Consumer, TopicPartition

    if not plan:
        return
    consumer = Consumer(kafka_client_config(cfg.bootstrap, cfg, **{"group.id": cfg.group_id,
                                                                   "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=[TopicPartition(r.topic, r.partition, r.end) for r in plan], asynchronous=False)
    finally:
        consumer.close()


def _header_map(msg) -> dict[str, str]:
    out = {}
    for k, v in msg.headers() or []:
        try:
            out[k] = v.decode() if isinstance(v, bytes) else str(v)
        except UnicodeDecodeError:
            out[k] = ""
    return out


def message_to_frame(msg) -> Frame:
    """A frames-topic message as a Frame; ``ValueError`` names what is wrong with it."""
    h = _header_map(msg)
    missing = [k for k in (H_CAMERA, H_AGENCY, H_TS, H_SEQ) if not h.get(k)]
    if missing:
        raise ValueError(f"bad frame header: missing {', '.join(missing)}")
    try:
        ts, seq = float(h[H_TS]), int(h[H_SEQ])
    except ValueError as exc:
        raise ValueError(f"bad frame header: capture_ts/seq not numeric ({h[H_TS]!r}, {h[H_SEQ]!r})") from exc
    return Frame(h[H_CAMERA], h[H_AGENCY], seq, ts, msg.value() or b"", source=h.get(H_SOURCE, "kafka"))


class _ReadRange(beam.DoFn):
    def __init__(self, bootstrap: str, poll_timeout_s: float = 1.0, idle_timeout_s: float = 30.0,
                 group_id: str = "alpr-pipeline", kafka: Optional[KafkaConfig] = None):
        self.bootstrap, self.poll_timeout_s, self.idle_timeout_s = bootstrap, poll_timeout_s, idle_timeout_s
        self.group_id, self.kafka = group_id, kafka  # the planning group (lag is reported under it), credentials

    def process(self, r: PartitionRange):
        from confluent_kafka import Consumer, TopicPartition
        from alpr.records import DEAD, MAX_DEAD_LETTER_PAYLOAD

        consumer = Consumer(kafka_client_config(self.bootstrap, getattr(self, "kafka", None), **{
            "group.id": "alpr-range-reader", "enable.auto.commit": False, "fetch.message.max.bytes": 20_000_000}))
        consumer.assign([TopicPartition(r.topic, r.partition, r.start)])
        offset, idle_since, lag_at = r.start, time.time(), 0.0
        try:
            while offset < r.end:
                if time.time() - lag_at >= 1.0:  # consumer lag: high watermark - position
                    lag_at = time.time()
                    self._report_lag(consumer, r, offset, self.group_id)
                msg = consumer.poll(self.poll_timeout_s)
                if msg is None:
                    if time.time() - idle_since > self.idle_timeout_s:
                        raise RuntimeError(f"{r.topic}[{r.partition}] stalled at offset {offset} (< {r.end})")
                    continue
                if msg.error():
                    obs.observe_kafka_consume_error(r.topic)
                    raise RuntimeError(f"kafka error on {r.topic}[{r.partition}]: {msg.error()}")
                idle_since = time.time()
                offset = msg.offset() + 1
                if msg.offset() >= r.end:
                    break
                Metrics.counter("alpr", "frames_in").inc()
                obs.observe_kafka_consumed(r.topic)
                try:
                    frame = message_to_frame(msg)
                except ValueError as exc:
                    key = f"{r.topic}[{r.partition}]@{msg.offset()}"
                    h = _header_map(msg)
                    detail = f"camera={h.get(H_CAMERA, '?')} agency={h.get(H_AGENCY, '?')} seq={h.get(H_SEQ, '?')}"
                    obs.observe_dead_letter("source", str(exc))
                    yield beam.pvalue.TaggedOutput(DEAD, DeadLetter(
                        stage="source", reason=str(exc), key=key, ts=time.time(),
                        payload=(msg.value() or b"")[:MAX_DEAD_LETTER_PAYLOAD], detail=detail))
                    continue
                yield TimestampedValue(frame, frame.capture_ts)
            self._report_lag(consumer, r, offset, self.group_id)
        finally:
            consumer.close()

    @staticmethod
    def _report_lag(consumer, r: PartitionRange, position: int, group_id: str) -> None:
        from confluent_kafka import TopicPartition

        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(r.topic, r.partition), timeout=2.0)
        except Exception as exc:  # lag is best effort; reading goes on
            log.debug("kafka: no watermark for %s[%d]: %s", r.topic, r.partition, exc)
            return
        obs.set_kafka_lag(r.topic, r.partition, high - position, group_id)


class ReadFramesFromKafka(beam.PTransform):
    """Frames topic -> Frame (bounded snapshot, see module doc). Output: ``frames`` and
    ``dead_letter`` (messages whose headers are unusable)."""

    def __init__(self, cfg: KafkaConfig, plan: Optional[Sequence[PartitionRange]] = None):
        super().__init__()
        self.cfg = cfg
        self.plan = list(plan) if plan is not None else plan_snapshot(cfg)

    def expand(self, pbegin):
        from alpr.records import DEAD

        return (pbegin
                | "Plan" >> beam.Create(self.plan)
                | "Reshuffle" >> beam.Reshuffle()
                | "Read" >> beam.ParDo(_ReadRange(self.cfg.bootstrap, group_id=self.cfg.group_id, kafka=self.cfg)).with_outputs(DEAD, main="frames"))


# --------------------------------------------------------------------------- sinks
class _ProduceFn(beam.DoFn):
    def __init__(self, bootstrap: str, topic: str, kafka: Optional[KafkaConfig] = None):
        self.bootstrap, self.topic, self.kafka = bootstrap, topic, kafka

    def setup(self):
        from confluent_kafka import Producer

        self._errors: list = []
        self._producer = Producer(producer_config(self.bootstrap, self.kafka))

    def topic_of(self, record) -> str:  # a second topic for ``record`` (the same: none)
        return self.topic

    def message(self, record) -> tuple[bytes, bytes, list]:
        raise NotImplementedError

    def start_bundle(self):
        self._sent = 0

    def process(self, record):
        key, value, headers = self.message(record)
        self._sent += 1
        for topic in dict.fromkeys((self.topic, self.topic_of(record))):  # + the agency's own topic
            while True:
                try:
                    self._producer.produce(topic, key=key, value=value, headers=headers,
                                           on_delivery=_on_delivery(self._errors))
                    break
                except BufferError:
                    self._producer.poll(0.5)
        self._producer.poll(0)
        yield record

    def finish_bundle(self):
        try:
            _flush(self._producer, self._errors)  # a bundle only succeeds once Kafka acknowledged it
        except DeliveryError:
            failed = max(len(self._errors), 1)
            obs.observe_kafka_produced(self.topic, max(0, self._sent - failed), failed)
            raise
        obs.observe_kafka_produced(self.topic, self._sent)

    def teardown(self):
        p = getattr(self, "_producer", None)
        if p is not None:
            p.flush(10)


class _AlertProduce(_ProduceFn):
    def topic_of(self, alert: Alert) -> str:  # <alerts_topic>.<agency>: the agency's own topic
        return f"{self.topic}.{alert.agency}" if self.kafka is not None and self.kafka.agency_alert_topics else self.topic

    def message(self, alert: Alert):
        headers = [("schema", ALERT_SCHEMA.encode()), ("list_code", alert.list_code.encode()),
                   ("priority", str(alert.priority).encode())]
        return alert.agency.encode(), alert.to_json().encode(), headers


class _DeadLetterProduce(_ProduceFn):
    def message(self, d: DeadLetter):
        headers = [(H_REASON, d.reason.encode()[:1000]), (H_STAGE, d.stage.encode()),
                   (H_KEY, d.key.encode()), (H_DETAIL, d.detail.encode()[:1000]), ("ts", repr(d.ts).encode())]
        return d.key.encode(), d.payload, headers


class WriteAlertsToKafka(beam.PTransform):
    """Alerts to the alerts topic, keyed by agency, value = Alert JSON (schema ``Alert/1``); with
    ``kafka.agency_alert_topics`` each alert also goes to its agency's topic ``<alerts_topic>.<agency>``,
    the only alerts topic an agency's consumer principal may read (Kafka ACLs, infra/svcauth.py)."""

    def __init__(self, cfg: KafkaConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, alerts):
        return alerts | "Produce" >> beam.ParDo(_AlertProduce(self.cfg.bootstrap, self.cfg.alerts_topic, self.cfg))


class WriteDeadLettersToKafka(beam.PTransform):
    """Dead letters to the dead-letter topic: the original payload, the reason in a header."""

    def __init__(self, cfg: KafkaConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, letters):
        return letters | "Produce" >> beam.ParDo(_DeadLetterProduce(self.cfg.bootstrap, self.cfg.deadletter_topic, self.cfg))


# --------------------------------------------------------------------------- consumers
def consume(bootstrap: str, topic: str, group_id: Optional[str] = None, from_beginning: bool = True,
            max_messages: Optional[int] = None, idle_timeout_s: Optional[float] = 10.0) -> Iterator:
    """Yield raw messages from a topic until ``max_messages`` or ``idle_timeout_s`` of silence."""
    from confluent_kafka import Consumer

    consumer = Consumer(kafka_client_config(bootstrap, None, **{
        "group.id": group_id or f"alpr-tail-{time.time_ns()}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": group_id is not None}))
    consumer.subscribe([topic])
    n, last = 0, time.time()
    try:
        while max_messages is None or n < max_messages:
            msg = consumer.poll(0.5)
            if msg is None:
                if idle_timeout_s is not None and time.time() - last > idle_timeout_s:
                    return
                continue
            if msg.error():
                log.warning("kafka: %s", msg.error())
                continue
            last = time.time()
            n += 1
            yield msg
    finally:
        consumer.close()


def read_alerts(bootstrap: str, topic: str, **kw) -> list[Alert]:
    return [Alert.from_json(m.value()) for m in consume(bootstrap, topic, **kw)]


def alert_json_schema() -> dict:
    from importlib import resources

    return json.loads(resources.files("alpr.connectors").joinpath("schemas/alert.v1.schema.json").read_text())
