"""The production services with the Beam pipeline: Kafka frames -> Beam (DirectRunner, a bounded
replay of the frames topic) -> Triton (v2 gRPC) -> Cassandra (TTL) + Kafka alerts + Kafka dead
letters. Same pipeline code as the embedded default; only the settings differ.

Runner: Beam runs in process (runner ``direct``). Beam's FlinkRunner is not used (the settings
that configured it are refused, ``alpr.config.REMOVED``); the streaming job on Flink is the PyFlink
job, ``alpr run --runner flink`` (``alpr.pipelines.flink``).
"""
from __future__ import annotations

import time
import uuid

import pytest

from alpr.connectors.auth import with_credentials  # SASL/SCRAM (ALPR_KAFKA__SASL_*)
from alpr.config import KafkaConfig, load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.kafka import CameraGateway, consume, frame_headers, plan_snapshot
from alpr.connectors.stores.base import ReadQuery
from alpr.connectors.stores.cassandra import CassandraStore
from alpr.pipelines.graph import run
from alpr.records import Alert, Frame, HotlistEntry

pytestmark = [pytest.mark.services, pytest.mark.slow]

N_VEHICLES, SEED = 2, 21  # 79 frames; the second vehicle is on the hotlist


@pytest.fixture(scope="module")
def stack(kafka_service, cassandra_service, triton_service):
    run_id = uuid.uuid4().hex[:8]
    camera = f"cam-it-{run_id}"
    kafka = KafkaConfig(bootstrap=kafka_service.bootstrap,
                        frames_topic=kafka_service.topics.get("frames", "frames"),
                        alerts_topic=kafka_service.topics.get("alerts", "alerts"),
                        deadletter_topic=kafka_service.topics.get("deadletter", "deadletter"),
                        group_id=f"alpr-it-{run_id}")
    settings = dict(
        source="kafka", camera_id=camera, agency="AGIT",
        inference=f"triton://{triton_service.grpc_url}",
        store=f"cassandra://{cassandra_service.host}:{cassandra_service.port}/{cassandra_service.keyspace}",
        alerts_sink="kafka", deadletter_sink="kafka", print_results=False, kafka=kafka,
        hotlist_refresh_s=0.0)
    cfg = load_settings(**{k: v for k, v in settings.items() if k != "kafka"}).replace(kafka=kafka)

    cam = SyntheticCamera(camera, "AGIT", n_vehicles=N_VEHICLES, seed=SEED)
    plates = [v.plate for v in cam.vehicles]
    wanted = plates[1]
    store = CassandraStore.from_url(cfg.store)
    store.upsert_entries([HotlistEntry(f"it-{run_id}", wanted, "V", list_name="Stolen Vehicle",
                                       source="ncic", created_ts=time.time())])
    # a consumer group starts at the committed offset or the earliest: begin after older data
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(with_credentials({"bootstrap.servers": kafka.bootstrap, "group.id": kafka.group_id, "enable.auto.commit": False}))
    meta = c.list_topics(kafka.frames_topic, timeout=10).topics[kafka.frames_topic]
    highs = [TopicPartition(kafka.frames_topic, p, c.get_watermark_offsets(TopicPartition(kafka.frames_topic, p))[1])
             for p in meta.partitions]
    c.commit(offsets=highs, asynchronous=False)
    c.close()

    gw = CameraGateway(kafka.bootstrap, kafka.frames_topic)
    frames = list(cam.frames())
    n = gw.publish(frames)
    bad = Frame(camera, "AGIT", 90001, frames[0].capture_ts, b"\xff\xd8\xff\xe0not really a jpeg")
    gw.publish([Frame(camera, "AGIT", 90000, frames[0].capture_ts, b""), bad])
    headers = [h for h in frame_headers(frames[0]) if h[0] != "capture_ts"]  # planted: header missing
    gw.publish_raw(camera, frames[0].data, headers)
    gw.flush()

    summary = run(cfg)
    return dict(cfg=cfg, store=store, plates=plates, wanted=wanted, camera=camera, n=n, summary=summary,
                kafka=kafka, t0=frames[0].capture_ts)


def test_cassandra_holds_every_vehicles_reads_with_ttl(stack):
    store, cfg = stack["store"], stack["cfg"]
    for plate in stack["plates"]:
        reads = [r for r in store.search_reads(ReadQuery(plate_pattern=plate, start_ts=stack["t0"] - 60,
                                                         end_ts=stack["t0"] + 3600))
                 if r.camera_id == stack["camera"]]
        assert len(reads) >= 2, f"no reads of {plate} in Cassandra"
        ttl_left = store.read_expiry(reads[0].read_id) - time.time()
        assert 0 < ttl_left <= cfg.ttl_s
    by_camera = store.search_reads(ReadQuery(camera_id=stack["camera"], start_ts=stack["t0"] - 60,
                                             end_ts=stack["t0"] + 3600, limit=100000))
    assert len(by_camera) == stack["summary"].counters["reads"]
    groups = [g for g in store.get_groups() if g.camera_id == stack["camera"] and g.num_reads >= 2]
    assert sorted(g.best_plate for g in groups) == sorted(stack["plates"])


def test_alerts_topic_holds_exactly_the_expected_alerts(stack):
    k = stack["kafka"]
    alerts = [Alert.from_json(m.value()) for m in consume(k.bootstrap, k.alerts_topic, idle_timeout_s=5)]
    mine = [a for a in alerts if a.camera_id == stack["camera"]]
    assert [a.read_plate for a in mine] == [stack["wanted"]]
    assert mine[0].match_type == "exact" and mine[0].list_code == "V"


def test_dead_letter_topic_holds_planted_bad_frames_with_reasons(stack):
    k = stack["kafka"]
    mine = {}
    for m in consume(k.bootstrap, k.deadletter_topic, idle_timeout_s=5):
        h = {key: (v or b"").decode() for key, v in m.headers() or []}
        if stack["camera"] in h.get("key", "") or f"camera={stack['camera']} " in h.get("detail", ""):
            mine[h["key"]] = h
    reasons = {key: h["reason"] for key, h in mine.items()}
    assert f"{stack['camera']}:90000" in reasons and f"{stack['camera']}:90001" in reasons
    assert any("missing capture_ts" in r for r in reasons.values()), reasons
    assert all(r for r in reasons.values())


def test_offsets_committed_only_after_success(stack):
    # everything published was processed and committed: the next snapshot is empty
    assert plan_snapshot(stack["kafka"]) == []
    assert stack["summary"].counters["frames_in"] == stack["n"] + 3
