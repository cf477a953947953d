"""Live hotlists on Kafka: every hotlist change as one record on the compacted ``hotlist`` topic.

Key = the entry id; value = a :class:`~alpr.records.HotlistChange` JSON (``op: upsert`` with the
whole entry); a removal is a tombstone (value ``None``), so log compaction keeps exactly the
live entries and a job that reads the topic from the start rebuilds the full list. The
streaming job applies each record to its broadcast :class:`HotlistSnapshot` incrementally;
an expiring entry needs no record to stop matching (``expires_at`` travels with it and the matcher
honours it); each governance maintenance run then removes it, which publishes its tombstone, so
the broadcast state does not keep expired entries for ever.

Hotlist agreements between agencies travel on the same topic (key ``agreement:<id>``, value an
:class:`~alpr.records.AgreementChange`; revoked, rejected or expired = a tombstone), so a running
job learns a revocation without a restart and without reading the governance database.

:class:`PublishingHotlistStore` wraps any hotlist store so that every write through it
(``alpr hotlist import``, agency entries added or removed) is published after the store
accepted it.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable, Optional, Sequence, Union

from alpr.records import (AGREEMENT_KEY_PREFIX, AgreementChange, HotlistChange, HotlistEntry, SchemaError,
                          record_from_json)

TopicChange = Union[HotlistChange, AgreementChange]

from .auth import kafka_client_config
from .kafka_gateway import DeliveryError, _flush, _on_delivery, producer_config

log = logging.getLogger(__name__)

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "600000"}


def ensure_compacted_topic(bootstrap: str, topic: str, partitions: int = 1, timeout_s: float = 15.0) -> bool:
    """Create ``topic`` as a compacted topic if it does not exist (True when created); an
    existing topic must already be compacted."""
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    admin = AdminClient(kafka_client_config(bootstrap))
    meta = admin.list_topics(timeout=timeout_s)
    if topic in meta.topics:
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        cfg = admin.describe_configs([res])[res].result(timeout=timeout_s)
        policy = cfg["cleanup.policy"].value if "cleanup.policy" in cfg else ""
        if "compact" not in policy:
            raise DeliveryError(f"topic {topic!r} exists with cleanup.policy={policy!r}; the hotlist topic must be "
                                "compacted (kafka-configs --alter --add-config cleanup.policy=compact)")
        return False
    fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1, config=COMPACTED)])
    try:
        fut[topic].result(timeout=timeout_s)
    except Exception as exc:  # created meanwhile by another client: fine if compacted
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
    return True


def upserts(entries: Iterable[HotlistEntry], reason: str = "add", ts: Optional[float] = None) -> list[HotlistChange]:
    ts = time.time() if ts is None else ts
    return [HotlistChange("upsert", e.entry_id, e, ts=ts, reason=reason) for e in entries]


def removals(entry_ids: Iterable[str], reason: str = "remove", ts: Optional[float] = None) -> list[HotlistChange]:
    ts = time.time() if ts is None else ts
    return [HotlistChange("remove", i, None, ts=ts, reason=reason) for i in entry_ids]


def change_message(change: TopicChange) -> tuple[bytes, Optional[bytes]]:
    """(key, value) of one change; a removal is a tombstone."""
    value = change.to_json().encode() if change.op == "upsert" else None
    key = change.key if isinstance(change, AgreementChange) else change.entry_id
    return key.encode(), value


def _agreement_change(key: str, value: Optional[bytes], ts: float) -> AgreementChange:
    agreement_id = key[len(AGREEMENT_KEY_PREFIX):]
    if value is None:
        return AgreementChange("remove", agreement_id, ts=ts, reason="remove")
    rec = record_from_json(value)
    if not isinstance(rec, AgreementChange) or rec.agreement_id != agreement_id:
        raise SchemaError(f"hotlist topic: key {key!r} does not carry that agreement")
    return rec


def hotlist_change_from_message(key: Optional[bytes], value: Optional[bytes], ts: float = 0.0) -> TopicChange:
    """A hotlist-topic message as a change: a tombstone removes its key; the value is a
    HotlistChange JSON (a bare HotlistEntry JSON is taken as its upsert); a key ``agreement:<id>``
    is an :class:`AgreementChange`."""
    entry_id = (key or b"").decode("utf-8", "replace")
    if entry_id.startswith(AGREEMENT_KEY_PREFIX):
        return _agreement_change(entry_id, value, ts)
    if value is None:
        if not entry_id:
            raise SchemaError("hotlist tombstone without a key")
        return HotlistChange("remove", entry_id, None, ts=ts, reason="remove")
    rec = record_from_json(value)
    if isinstance(rec, HotlistEntry):
        rec = HotlistChange("upsert", rec.entry_id, rec, ts=ts, reason="add")
    if not isinstance(rec, HotlistChange):
        raise SchemaError(f"hotlist topic: expected a HotlistChange, got {type(rec).__name__}")
    if entry_id and rec.entry_id != entry_id:
        raise SchemaError(f"hotlist topic: key {entry_id!r} does not match entry {rec.entry_id!r}")
    return rec


class HotlistPublisher:
    """Publishes hotlist changes to the compacted topic (idempotent producer, acks=all)."""

    def __init__(self, bootstrap: str, topic: str = "hotlist", create_topic: bool = True):
        from confluent_kafka import Producer

        self.bootstrap, self.topic = bootstrap, topic
        if create_topic:
            ensure_compacted_topic(bootstrap, topic)
        self._producer = Producer(producer_config(bootstrap, **{"linger.ms": 20}))
        self.published = 0

    def publish(self, changes: Sequence[TopicChange], timeout_s: float = 30.0) -> int:
        errors: list = []
        cb = _on_delivery(errors)
        for c in changes:
            key, value = change_message(c)
            while True:
                try:
                    self._producer.produce(self.topic, key=key, value=value, on_delivery=cb)
                    break
                except BufferError:  # local queue full (a million-entry import): let it drain
                    self._producer.poll(0.5)
            self._producer.poll(0)
        _flush(self._producer, errors, timeout_s)
        self.published += len(changes)
        return len(changes)

    def close(self) -> None:
        self._producer.flush(10)


class PublishingHotlistStore:
    """A hotlist store whose writes are also published as changes (after the store write)."""

    def __init__(self, store, publisher: HotlistPublisher):
        self._store, self.publisher = store, publisher

    def upsert_entries(self, entries: Iterable[HotlistEntry]) -> int:
        entries = list(entries)
        n = self._store.upsert_entries(entries)
        self.publisher.publish(upserts(entries, "add"))
        return n

    def remove_entries(self, entry_ids: Iterable[str]) -> int:
        ids = list(entry_ids)
        n = self._store.remove_entries(ids)
        self.publisher.publish(removals(ids, "remove"))
        return n

    def replace_list(self, list_code: str, entries: Iterable[HotlistEntry], agency: str = "") -> int:
        entries = list(entries)
        before = {e.entry_id for e in self._store.load_entries()
                  if e.list_code == list_code and (e.agency or "") == (agency or "")}
        n = self._store.replace_list(list_code, entries, agency=agency)
        gone = sorted(before - {e.entry_id for e in entries})
        self.publisher.publish(upserts(entries, "import") + removals(gone, "import"))
        return n

    def __getattr__(self, name):  # everything else is the store's
        return getattr(self._store, name)


def read_hotlist_changes(bootstrap: str, topic: str = "hotlist", timeout_s: float = 30.0) -> list[TopicChange]:
    """Every change on the topic from its start up to its current end, in offset order per
    partition (a job bootstrapping its snapshot, tests). No consumer group is involved."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(kafka_client_config(bootstrap, None, **{"group.id": f"alpr-hotlist-reader-{time.time_ns()}",
                                                                "enable.auto.commit": False}))
    out: list[HotlistChange] = []
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None:
            raise DeliveryError(f"hotlist topic {topic!r} unavailable: {meta.error if meta else 'missing'}")
        ends = {}
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                log.warning("kafka: %s", msg.error())
                continue
            out.append(hotlist_change_from_message(msg.key(), msg.value(), ts=msg.timestamp()[1] / 1000.0))
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        if ends:
            raise DeliveryError(f"hotlist topic {topic!r}: not read to its end within {timeout_s}s")
        return out
    finally:
        consumer.close()
