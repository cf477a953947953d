"""Signed checkpoints of the access-log head, kept outside the governance store.

A :class:`Checkpoint` says "record ``seq`` of the access log has MAC ``hash``", signed with the
Ed25519 key derived from the audit key (:class:`~alpr.governance.keys.AuditKey`). Sinks:

* :class:`FileAnchorSink` appends one JSON line per checkpoint to a file the auditor keeps
  (copy it off the server, or point it at a mount the database's users cannot write);
* :class:`KafkaAnchorSink` publishes each checkpoint to a Kafka topic (``alpr.audit.anchors``).

``alpr audit verify`` reads them back and checks that every anchored record is still in the
log with the anchored MAC, and that the log has not been cut back below the newest anchor.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Protocol, Sequence, runtime_checkable

from alpr.connectors.auth import kafka_client_config

from .keys import AuditKey, verify_signature

log = logging.getLogger(__name__)

ANCHOR_TOPIC = "alpr.audit.anchors"


def _canonical(d: dict) -> bytes:
    return json.dumps(d, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Checkpoint:
    chain: str
    seq: int
    hash: str
    ts: float
    public_key: str = ""
    signature: str = ""

    def signed_body(self) -> bytes:
        return _canonical({"chain": self.chain, "seq": self.seq, "hash": self.hash, "ts": self.ts})

    @classmethod
    def make(cls, key: AuditKey, chain: str, seq: int, hash_: str, ts: float) -> "Checkpoint":
        unsigned = cls(chain, int(seq), hash_, float(ts))
        return cls(chain, int(seq), hash_, float(ts), key.public_key_hex(), key.sign(unsigned.signed_body()))

    def valid_for(self, public_key_hex: str) -> bool:
        return self.public_key == public_key_hex and verify_signature(public_key_hex, self.signed_body(),
                                                                      self.signature)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> "Checkpoint":
        d = json.loads(line)
        return cls(str(d["chain"]), int(d["seq"]), str(d["hash"]), float(d["ts"]), str(d.get("public_key", "")),
                   str(d.get("signature", "")))


@runtime_checkable
class AnchorSink(Protocol):
    name: str

    def publish(self, cp: Checkpoint) -> None: ...

    def checkpoints(self) -> list[Checkpoint]: ...


class FileAnchorSink:
    """Append-only JSON lines (fsync'd), one checkpoint per line."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.name = f"file:{self.path}"

    def publish(self, cp: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(self.path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (cp.to_json() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def checkpoints(self) -> list[Checkpoint]:
        if not self.path.exists():
            return []
        out = []
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    out.append(Checkpoint.from_json(line))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{self.path}:{n}: unreadable checkpoint ({exc})") from exc
        return out


class KafkaAnchorSink:
    """Publishes checkpoints to a Kafka topic (acks=all, idempotent) and reads them back from offset 0."""

    def __init__(self, bootstrap: str, topic: str = ANCHOR_TOPIC, timeout_s: float = 10.0):
        self.bootstrap, self.topic, self.timeout_s = bootstrap, topic, timeout_s
        self.name = f"kafka:{bootstrap}/{topic}"
        self._producer = None

    def _ensure_topic(self) -> None:
        """Create the anchor topic (one partition keeps the checkpoints in order) if the broker lacks it."""
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient(kafka_client_config(self.bootstrap))
        meta = admin.list_topics(timeout=self.timeout_s)
        if self.topic in meta.topics:
            return
        replicas = min(3, max(1, len(meta.brokers)))
        futures = admin.create_topics([NewTopic(self.topic, num_partitions=1, replication_factor=replicas)])
        for fut in futures.values():
            try:
                fut.result(self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - created meanwhile by another writer is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise

    def publish(self, cp: Checkpoint) -> None:
        from confluent_kafka import Producer
        if self._producer is None:
            self._ensure_topic()
            self._producer = Producer(kafka_client_config(self.bootstrap, None, **{"acks": "all",
                                                                                   "enable.idempotence": True}))
        errors: list[str] = []
        self._producer.produce(self.topic, key=cp.chain.encode(), value=cp.to_json().encode(),
                               on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
        if self._producer.flush(self.timeout_s) or errors:
            raise RuntimeError(f"anchor not acknowledged by Kafka: {errors or 'timeout'}")

    def checkpoints(self) -> list[Checkpoint]:
        import uuid

        from confluent_kafka import Consumer, TopicPartition
        c = Consumer(kafka_client_config(self.bootstrap, None, **{
            "group.id": f"alpr-anchor-verify-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "auto.offset.reset": "earliest"}))
        try:
            meta = c.list_topics(self.topic, timeout=self.timeout_s).topics.get(self.topic)
            if meta is None or meta.error is not None:
                return []
            out: list[Checkpoint] = []
            for p in meta.partitions:
                tp = TopicPartition(self.topic, p)
                low, high = c.get_watermark_offsets(tp, timeout=self.timeout_s)
                if high <= low:
                    continue
                c.assign([TopicPartition(self.topic, p, low)])
                pos = low
                while pos < high:
                    msg = c.poll(self.timeout_s)
                    if msg is None:
                        raise RuntimeError(f"anchors: timed out reading {self.topic}[{p}] at offset {pos}")
                    if msg.error():
                        continue
                    out.append(Checkpoint.from_json(msg.value().decode()))
                    pos = msg.offset() + 1
            return out
        finally:
            c.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout_s)


def open_sinks(file_path: Optional[str], kafka_bootstrap: Optional[str],
               topic: str = ANCHOR_TOPIC) -> tuple[AnchorSink, ...]:
    sinks: list[AnchorSink] = []
    if file_path:
        sinks.append(FileAnchorSink(file_path))
    if kafka_bootstrap:
        sinks.append(KafkaAnchorSink(kafka_bootstrap, topic))
    return tuple(sinks)


def gather(sinks: Sequence[AnchorSink], chain: str) -> list[Checkpoint]:
    """All checkpoints of ``chain`` from every sink, de-duplicated, by sequence number."""
    seen: dict[tuple[int, str, str], Checkpoint] = {}
    for sink in sinks:
        for cp in sink.checkpoints():
            if cp.chain == chain:
                seen.setdefault((cp.seq, cp.hash, cp.signature), cp)
    return sorted(seen.values(), key=lambda c: (c.seq, c.ts))
