"""Hardening: faults on the production path (Kafka -> pipeline -> Cassandra + Kafka sinks).

Each test publishes a small synthetic clip (2 vehicles, 2 fps: 32 frames, 12 plate reads) to
the frames topic, runs ``alpr run`` (the real CLI, a subprocess, DirectRunner, Kafka source,
Cassandra store, Kafka alert and dead-letter sinks) and injects one fault while it runs:

1. the Kafka broker is SIGKILLed and restarted mid-run;
2. (Cassandra stopped for 60 s: on the Flink job, tests/test_flink_faults.py;)
3. the inference server (Triton) is SIGKILLed mid-run;
4. the pipeline process itself is SIGKILLed mid-run.

What is checked afterwards is the delivery contract of ``alpr.connectors.kafka``: a snapshot's
offsets are committed only after its results are durable, so a failed or killed run is re-read
by the next one (at-least-once); ids are deterministic (``read_id``, ``group_id``,
``alert_id``), so a replay overwrites the same Cassandra rows and re-emits alerts with the same
``alert_id`` -- consumers of the alerts topic de-duplicate by ``alert_id``. Expected reads come
from a fault-free reference run of the same frames (in-process, embedded store).

Recovery policy used here, like ``alpr run --follow`` under a supervisor: re-run until the
snapshot is empty (at most a few runs). Cassandra outages longer than the store's default
retries (~6 s) are ridden out with ``?retry_budget_s=`` on the store URL, so the run blocks
and resumes instead of failing. Inference outages dead-letter the affected frames (stage
``inference``, key ``camera:seq``); the batch's offsets are committed (the frames are accounted
for), and replay is a rewind of the consumer group to the snapshot's start offsets.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import pytest

from alpr.connectors.auth import with_credentials  # SASL/SCRAM (ALPR_KAFKA__SASL_*)
from alpr.config import KafkaConfig, load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.kafka import CameraGateway, consume, plan_snapshot
from alpr.connectors.stores.base import ReadQuery
from alpr.records import Alert, HotlistEntry, stable_id

from services import free_ports, service_runner

pytestmark = [pytest.mark.services, pytest.mark.slow]

N_VEHICLES, SEED, FPS = 2, 57, 2.0
REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 300


# --------------------------------------------------------------------------- reference
@dataclass(frozen=True)
class Reference:
    frames: list            # Frames of camera "cam-ref"
    reads: list             # (seq, index in frame, plate) of every read of a fault-free run
    plates: list            # best plates of the confirmed plate groups (vehicles), in passage order
    spans: list             # (first seq, last seq) of each of those groups

    def read_ids(self, camera: str) -> set[str]:
        return {stable_id("read", f"{camera}:{seq}", i, plate) for seq, i, plate in self.reads}

    def seqs_with_reads(self) -> set[int]:
        return {seq for seq, _, _ in self.reads}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    """The same frames through the same graph without faults (ONNX in-process, SQLite)."""
    import apache_beam as beam

    from alpr.connectors.stores import open_store
    from alpr.pipelines.graph import build, pipeline_options

    d = tmp_path_factory.mktemp("faults-ref")
    cam = SyntheticCamera("cam-ref", "AGFT", n_vehicles=N_VEHICLES, seed=SEED, fps=FPS)
    frames = list(cam.frames())
    settings = load_settings(store=f"sqlite:{d}/ref.db", alerts_sink=f"jsonl:{d}/alerts.jsonl",
                             print_results=False, hotlist_refresh_s=0.0)
    p = beam.Pipeline(options=pipeline_options(settings))
    build(p, settings, frames=p | beam.Create(frames))
    p.run().wait_until_finish()
    store = open_store(settings.store)
    got = store.search_reads(ReadQuery(camera_id="cam-ref", start_ts=frames[0].capture_ts - 60,
                                       end_ts=frames[-1].capture_ts + 60, limit=100000))
    groups = [g for g in store.get_groups("cam-ref") if g.num_reads >= 2]
    store.close()
    reads = []
    for r in got:
        index = next(i for i in range(16) if stable_id("read", r.frame_id, i, r.plate) == r.read_id)
        reads.append((r.seq, index, r.plate))
    assert len(reads) >= 8, f"reference run found too few reads: {reads}"
    groups.sort(key=lambda g: g.frame_start)
    assert sorted(g.best_plate for g in groups) == sorted(v.plate for v in cam.vehicles), groups
    return Reference(frames, sorted(reads), [g.best_plate for g in groups],
                     [(g.frame_start, g.frame_end) for g in groups])


# --------------------------------------------------------------------------- scenario
def metric(url: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus metric's samples whose labels include ``labels``; 0 if unreachable."""
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(predicate, timeout_s: float, what: str, proc: Optional[subprocess.Popen] = None, poll_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the pipeline ended (rc={proc.returncode}) before {what}")
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


class Scenario:
    """One camera, one consumer group, one hotlist entry; runs ``alpr run`` subprocesses."""

    def __init__(self, name: str, kafka_service, cassandra_service, reference: Reference, tmp_path: Path,
                 inference: str = "onnx", store_query: str = "", batch_size: int = 8):
        from alpr.connectors.stores.cassandra import CassandraStore

        tag = uuid.uuid4().hex[:8]
        self.camera, self.ref, self.tmp = f"cam-{name}-{tag}", reference, tmp_path
        self.kafka = KafkaConfig(bootstrap=kafka_service.bootstrap,
                                 frames_topic=kafka_service.topics.get("frames", "frames"),
                                 alerts_topic=kafka_service.topics.get("alerts", "alerts"),
                                 deadletter_topic=kafka_service.topics.get("deadletter", "deadletter"),
                                 group_id=f"alpr-{name}-{tag}")
        base = f"cassandra://{cassandra_service.host}:{cassandra_service.port}/{cassandra_service.keyspace}"
        self.store_url = base + store_query
        self.store_base = base
        self.frames = [replace(f, camera_id=self.camera) for f in reference.frames]
        self.wanted = reference.plates[0]  # the first vehicle: its alert is produced mid-run
        self.entry_id = f"flt-{tag}"
        store = CassandraStore.from_url(base)
        store.upsert_entries([HotlistEntry(self.entry_id, self.wanted, "V", list_name="Stolen Vehicle",
                                           source="ncic", created_ts=time.time())])
        store.close()
        self.metrics_port = free_ports(1)[0]
        keep = ("ALPR_KAFKA__SASL_", "ALPR_KAFKA__SECURITY_PROTOCOL", "ALPR_CASSANDRA__")  # the session's credentials
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_") or k.startswith(keep)}
        self.env.update({
            "ALPR_SOURCE": "kafka", "ALPR_STORE": self.store_url, "ALPR_INFERENCE": inference,
            "ALPR_ALERTS_SINK": "kafka", "ALPR_DEADLETTER_SINK": "kafka", "ALPR_PRINT_RESULTS": "false",
            "ALPR_HOTLIST_REFRESH_S": "0", "ALPR_BATCH_SIZE": str(batch_size),
            "ALPR_METRICS_PORT": str(self.metrics_port),
            "ALPR_KAFKA__BOOTSTRAP": self.kafka.bootstrap, "ALPR_KAFKA__GROUP_ID": self.kafka.group_id,
            "ALPR_KAFKA__FRAMES_TOPIC": self.kafka.frames_topic, "ALPR_KAFKA__ALERTS_TOPIC": self.kafka.alerts_topic,
            "ALPR_KAFKA__DEADLETTER_TOPIC": self.kafka.deadletter_topic,
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        })
        self.start_offsets = self._skip_older_frames()
        self.runs: list[int] = []
        self._n = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _skip_older_frames(self) -> list:
        """Commit the high watermarks for the new group: its snapshots hold only our frames."""
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer(with_credentials({"bootstrap.servers": self.kafka.bootstrap, "group.id": self.kafka.group_id,
                      "enable.auto.commit": False}))
        try:
            topic = self.kafka.frames_topic
            meta = c.list_topics(topic, timeout=10).topics[topic]
            highs = [TopicPartition(topic, p, c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
                     for p in sorted(meta.partitions)]
            c.commit(offsets=highs, asynchronous=False)
            return highs
        finally:
            c.close()

    def rewind(self) -> None:
        """Replay: move the group back to where this scenario's frames begin."""
        from confluent_kafka import Consumer

        c = Consumer(with_credentials({"bootstrap.servers": self.kafka.bootstrap, "group.id": self.kafka.group_id,
                      "enable.auto.commit": False}))
        try:
            c.commit(offsets=self.start_offsets, asynchronous=False)
        finally:
            c.close()

    def publish(self, frames) -> int:
        gw = CameraGateway(self.kafka.bootstrap, self.kafka.frames_topic)
        n = gw.publish(frames)
        gw.flush()
        return n

    def start(self) -> subprocess.Popen:
        self._n += 1
        log = open(self.tmp / f"alpr-run-{self._n}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "alpr.app.cli", "run"], env=self.env, cwd=self.tmp,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return proc

    def finish(self, proc: subprocess.Popen, timeout_s: float = RUN_TIMEOUT_S) -> int:
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill(proc)
            raise AssertionError(f"alpr run did not finish in {timeout_s}s:\n{self.log_tail()}")
        self.runs.append(rc)
        return rc

    def log_tail(self, n: int = 30) -> str:
        path = self.tmp / f"alpr-run-{self._n}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""

    def drain(self, max_runs: int = 3) -> None:
        """Run again (a supervisor restarting ``alpr run``) until the snapshot is empty."""
        for _ in range(max_runs):
            if not plan_snapshot(self.kafka):
                return
            self.finish(self.start())
        assert plan_snapshot(self.kafka) == [], f"snapshot not drained after {max_runs} runs:\n{self.log_tail()}"

    # -- checks ----------------------------------------------------------------------------
    def store(self):
        from alpr.connectors.stores.cassandra import CassandraStore

        return CassandraStore.from_url(self.store_base)

    def span(self) -> dict:
        return dict(start_ts=self.frames[0].capture_ts - 60, end_ts=self.frames[-1].capture_ts + 60)

    def stored_reads(self, store) -> list:
        return store.search_reads(ReadQuery(camera_id=self.camera, limit=100000, **self.span()))

    def assert_reads_exactly_once(self, store) -> None:
        rows = self.stored_reads(store)
        ids = Counter(r.read_id for r in rows)
        assert max(ids.values(), default=1) == 1, f"duplicate read rows: {[i for i, c in ids.items() if c > 1]}"
        expected = self.ref.read_ids(self.camera)
        assert set(ids) == expected, (f"lost reads: {sorted(expected - set(ids))}; "
                                      f"unexpected reads: {sorted(set(ids) - expected)}")
        by_id = [r for r in store.search_reads(ReadQuery(plate_pattern=self.wanted, limit=100000, **self.span()))
                 if r.camera_id == self.camera]
        assert len(by_id) == len({r.read_id for r in by_id}) == sum(1 for *_, p in self.ref.reads if p == self.wanted)
        assert by_id, "no reads of the wanted plate"

    def assert_groups(self, store) -> None:
        groups = [g for g in store.get_groups(self.camera, **self.span())]
        ids = Counter(g.group_id for g in groups)
        assert max(ids.values(), default=1) == 1, "duplicate group rows"
        confirmed = sorted(g.best_plate for g in groups if g.num_reads >= 2)
        assert confirmed == sorted(self.ref.plates), confirmed

    def topic_alerts(self) -> list[Alert]:
        return [a for a in (Alert.from_json(m.value()) for m in consume(self.kafka.bootstrap, self.kafka.alerts_topic,
                                                                         idle_timeout_s=4))
                if a.camera_id == self.camera]

    def assert_alerts_once(self, store) -> int:
        """The alert of the wanted vehicle, exactly once after de-duplication by ``alert_id``,
        in Cassandra and on the topic; returns how many topic messages carried it."""
        stored = [a for a in store.get_alerts() if a.camera_id == self.camera]
        assert len(stored) == 1, f"expected one alert row, got {[(a.alert_id, a.read_plate) for a in stored]}"
        alert = stored[0]
        assert alert.entry_id == self.entry_id and alert.read_plate == self.wanted
        on_topic = self.topic_alerts()
        assert {a.alert_id for a in on_topic} == {alert.alert_id}, "alerts topic: lost or unexpected alert ids"
        for a in on_topic:
            # a re-emitted alert is the same alert; only the emission time and, when a replay
            # brought back frames that were dead-lettered the first time, the group's voted
            # confidence may differ
            assert replace(a, emitted_ts=0.0, confidence=0.0) == replace(on_topic[0], emitted_ts=0.0, confidence=0.0)
        return len(on_topic)

    def dead_letters(self) -> dict[str, dict]:
        out = {}
        for m in consume(self.kafka.bootstrap, self.kafka.deadletter_topic, idle_timeout_s=4):
            h = {k: (v or b"").decode() for k, v in m.headers() or []}
            if h.get("key", "").startswith(self.camera + ":"):
                out.setdefault(h["key"], h)
        return out

    def cleanup(self) -> None:
        try:
            store = self.store()
            store.remove_entries([self.entry_id])
            store.close()
        except Exception as exc:  # noqa: BLE001 - best effort, never mask the test result
            print(f"cleanup: {exc}", file=sys.stderr)


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


@pytest.fixture
def scenario_factory(kafka_service, cassandra_service, reference, tmp_path):
    made: list[Scenario] = []
    procs: list[subprocess.Popen] = []

    def make(name: str, **kw) -> Scenario:
        s = Scenario(name, kafka_service, cassandra_service, reference, tmp_path, **kw)
        orig = s.start

        def start() -> subprocess.Popen:
            p = orig()
            procs.append(p)
            return p

        s.start = start
        made.append(s)
        return s

    yield make
    for p in procs:
        kill(p)
    for s in made:
        s.cleanup()


def _split(reference: Reference) -> int:
    """A frame sequence number between the two vehicles (so no passage spans two snapshots)."""
    (_, end1), (start2, _) = reference.spans[0], reference.spans[1]
    assert end1 < start2
    return (end1 + start2 + 1) // 2


# --------------------------------------------------------------------------- 1. Kafka broker
def test_kafka_broker_killed_mid_run_loses_and_duplicates_nothing(scenario_factory, reference):
    kafka = service_runner("kafka")
    s = scenario_factory("kafkakill")
    cut = _split(reference)
    t0 = time.monotonic()
    s.publish([f for f in s.frames if f.seq < cut])
    proc = s.start()
    try:
        wait_for(lambda: metric(s.metrics_url, "alpr_frames_total") > 0, 120, "frames read from Kafka", proc)
        kafka.kill()
        assert proc.poll() is None, "the run ended before the broker was killed"
        time.sleep(2)
    finally:
        kafka.up()  # same ports and data directory: a broker crash and restart
    s.finish(proc)
    s.publish([f for f in s.frames if f.seq >= cut])
    s.drain()
    store = s.store()
    try:
        s.assert_reads_exactly_once(store)
        s.assert_groups(store)
        copies = s.assert_alerts_once(store)
    finally:
        store.close()
    print(f"kafka kill: runs rc={s.runs}, alert messages={copies}, {time.monotonic() - t0:.0f}s")


# --------------------------------------------------------------------------- 2. Cassandra down
# Cassandra stopped for 60 s mid-stream is tested on the production engine, the Flink job
# (tests/test_flink_faults.py::test_cassandra_stopped_60s_mid_stream_every_row_arrives_once): the
# same store and the same retry budget (``?retry_budget_s=``) serve both engines' writers, and
# the Beam run's offsets-after-durable contract is tested by 1 and 4 here. (A Beam copy of the
# 60 s outage cost 95 s of CI time.)


# --------------------------------------------------------------------------- 3. Triton killed
def test_inference_server_killed_frames_dead_lettered_then_replayed(scenario_factory, reference, triton_service):
    triton = service_runner("triton")
    s = scenario_factory("tritonkill", inference=f"triton://{triton_service.grpc_url}", batch_size=2)
    t0 = time.monotonic()
    tmetrics = f"http://{triton_service.host}:{triton_service.metrics_port}/metrics"
    before = metric(tmetrics, "nv_inference_request_success", model="plate_det")
    s.publish(s.frames)
    proc = s.start()
    try:
        wait_for(lambda: metric(tmetrics, "nv_inference_request_success", model="plate_det") >= before + 4, 180,
                 "the first batches served by Triton", proc, poll_s=0.05)
        triton.kill()
        rc = s.finish(proc)
        # the run backs off (retries), dead-letters what it cannot infer, and completes
        assert rc == 0, f"the run failed instead of dead-lettering:\n{s.log_tail()}"
        assert plan_snapshot(s.kafka) == [], "offsets not committed after a completed run"
        dead = s.dead_letters()
        inference_dead = {k: h for k, h in dead.items() if h.get("stage") == "inference"}
        assert inference_dead, "no frame was dead-lettered by the inference stage"
        assert len(inference_dead) < len(s.frames), "Triton served no batch at all before it was killed"
        assert all("inference failed" in h["reason"] for h in inference_dead.values())
        dead_seqs = {int(k.rsplit(":", 1)[1]) for k in inference_dead}
        assert dead_seqs <= {f.seq for f in s.frames}
        store = s.store()
        try:
            read_seqs = {r.seq for r in s.stored_reads(store)}
        finally:
            store.close()
        # nothing silently lost: every frame with a plate has its reads or is dead-lettered
        missing = reference.seqs_with_reads() - read_seqs - dead_seqs
        assert not missing, f"frames neither read nor dead-lettered: {sorted(missing)}"
        assert not read_seqs & dead_seqs
    finally:
        triton.up()
    # replay: rewind the group to the snapshot's start and run again on the recovered server
    s.rewind()
    s.drain()
    store = s.store()
    try:
        rows = s.stored_reads(store)
        assert {r.seq for r in rows} == reference.seqs_with_reads()
        assert len(rows) == len({r.read_id for r in rows}), "duplicate read rows after the replay"
        s.assert_groups(store)
        s.assert_alerts_once(store)
    finally:
        store.close()
    print(f"triton kill: {len(dead_seqs)} frames dead-lettered then replayed, runs rc={s.runs}, "
          f"{time.monotonic() - t0:.0f}s")


# --------------------------------------------------------------------------- 4. pipeline killed
def test_pipeline_killed_mid_run_restarts_from_committed_offsets(scenario_factory, reference):
    s = scenario_factory("pipekill")
    t0 = time.monotonic()
    s.publish(s.frames)
    plan = plan_snapshot(s.kafka)
    assert sum(r.end - r.start for r in plan) == len(s.frames)
    proc = s.start()
    wait_for(lambda: metric(s.metrics_url, "alpr_store_rows_written_total", table="reads") > 0, 180,
             "the first reads written to Cassandra", proc, poll_s=0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    kill(proc)
    s.runs.append(proc.returncode)
    assert plan_snapshot(s.kafka) == plan, "offsets moved although the run never finished"
    store = s.store()
    try:
        partial = len(s.stored_reads(store))
        assert partial > 0
        s.drain()
        s.assert_reads_exactly_once(store)  # the replay overwrote the partial rows
        s.assert_groups(store)
        s.assert_alerts_once(store)
    finally:
        store.close()
    print(f"pipeline kill: {partial} reads stored before the kill, runs rc={s.runs}, {time.monotonic() - t0:.0f}s")
