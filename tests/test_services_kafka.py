"""Kafka broker from infra/services.sh: topics as configured, acks=all + idempotent round trip."""

from __future__ import annotations

import time
import uuid

import pytest

from alpr.connectors.auth import with_credentials  # SASL/SCRAM (ALPR_KAFKA__SASL_*)
from alpr.records import Frame

pytestmark = pytest.mark.services

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402


def _consume(bootstrap: str, topic: str, want: int, timeout: float = 60.0) -> list:
    consumer = confluent_kafka.Consumer(with_credentials({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    }))
    got = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg)
    finally:
        consumer.close()
    return got


def test_topics_exist_and_hotlist_is_compacted(kafka_service):
    admin = AdminClient(with_credentials({"bootstrap.servers": kafka_service.bootstrap}))
    md = admin.list_topics(timeout=10)
    for role, name in kafka_service.topics.items():
        assert name in md.topics, f"topic for {role} ({name}) missing: {sorted(md.topics)}"
    res = ConfigResource(ConfigResource.Type.TOPIC, kafka_service.topics["hotlist"])
    cfg = admin.describe_configs([res])[res].result(timeout=10)
    assert cfg["cleanup.policy"].value == "compact"
    frames = ConfigResource(ConfigResource.Type.TOPIC, kafka_service.topics["frames"])
    assert admin.describe_configs([frames])[frames].result(timeout=10)["cleanup.policy"].value == "delete"


def test_round_trip_acks_all_idempotent(kafka_service):
    topic = kafka_service.topics["frames"]
    run = uuid.uuid4().hex[:8]
    frames = [Frame(camera_id=f"cam-{run}-{i % 3}", agency="pd", seq=i, capture_ts=1_700_000_000.0 + i,
                    data=bytes([i % 256]) * (100 + i), source="test") for i in range(30)]
    producer = confluent_kafka.Producer(with_credentials({
        "bootstrap.servers": kafka_service.bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
    }))
    delivered, errors = [], []

    def on_delivery(err, msg):
        (errors if err else delivered).append(err or msg)

    for f in frames:
        producer.produce(topic, key=f.camera_id.encode(), value=f.to_json().encode(), on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert errors == []
    assert len(delivered) == len(frames)

    msgs = _consume(kafka_service.bootstrap, topic, want=10_000, timeout=15)
    mine = [Frame.from_json(m.value()) for m in msgs if m.key().decode().startswith(f"cam-{run}-")]
    assert sorted(mine, key=lambda f: f.seq) == frames
    # per key (= per partition) order is preserved
    for cam in {f.camera_id for f in frames}:
        seqs = [f.seq for f in mine if f.camera_id == cam]
        assert seqs == sorted(seqs)
