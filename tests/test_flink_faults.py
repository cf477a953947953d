"""Failures on the real Flink cluster lose nothing and duplicate nothing (issue 13, item 4).

One long-running job (``alpr run --runner flink``: parallelism 2 over both TaskManagers,
RocksDB state, checkpoints every 4 s, the exponential-delay restart strategy, the
transactional ``KafkaSink`` for alerts, Triton recognition, a Cassandra store with a 240 s
retry budget) serves five phases, one per fault or upgrade. Each phase publishes the same small clip
(2 vehicles at 2 fps: 32 frames) as a new camera and agency, the first half before the fault
and the rest after it, then counts reads, groups and alerts against a fault-free reference:
the same frames through the Beam binding in process (DirectRunner, SQLite, the same server).

1. A TaskManager is SIGKILLed (the JVM and its Python workers) right after the first alert
   went out in an open Kafka transaction: the job restarts from its last checkpoint, the
   alert is on the topic exactly once for ``read_committed``
   readers, and Cassandra holds every read and group once (stable ids: a replay overwrites).
   The TaskManager is started again at once (a cluster manager brings a lost pod back); the
   restore may use either TaskManager. The test then waits until the cluster has its slots back.
2. The Kafka broker is SIGKILLed and restarted (same ports and data): the same counts.
3. Cassandra is stopped for 60 s: the job's writers wait inside their retry budget
   (``?retry_budget_s=240``; a longer outage fails the task and the restart strategy takes
   over), so frames keep arriving and every row lands after the outage; the same counts.
4. Triton is SIGKILLed: a batch the server cannot serve (after the backend's and the stage's
   retries) is dead-lettered frame by frame with stage ``inference`` and the frame bytes, to
   the store and the dead-letter topic, and the job keeps running; once Triton is back,
   later frames are recognised again. Reads are the reference's minus exactly the
   dead-lettered frames: nothing is lost silently (replay is the dead letters' payload).
5. The job is stopped with a savepoint in the middle of a vehicle and resubmitted from it
   (``--from-savepoint``) with a new operator (the per-camera health topic), the upgrade path:
   the same counts, the alert once, and the new operator's records for the camera.

Services: kafka, cassandra, flink, triton (tests/services.py). Measured on 2 busy cores: 6 min 20 s
with the services' start (setup 100 s; TaskManager 73 s, Kafka 52 s, Cassandra 100 s, Triton 32 s).
"""
from __future__ import annotations

import json
import os
import time

import pytest

from alpr.config import load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.stores import open_store
from alpr.observability import flink_metrics
from flink_faults_helpers import (Phase, Reference, alert_key, first_alert, group_key, kill_taskmanager,
                                  read_key)
from flink_helpers import cancel_job, flink_job_setup, read_topic, wait_for
from services import service_runner

pytestmark = [pytest.mark.services, pytest.mark.slow]

N_VEHICLES, SEED, FPS, AGENCY = 2, 57, 2.0, "AGFF"
CHECKPOINT_MS = 4000


def _hotlist_file(path, plate: str):
    path.write_text("plate,list_code,list_name,priority,source\n"
                    f"{plate},V,Stolen Vehicle,10,ncic\n")
    return path


@pytest.fixture(scope="module")
def reference(triton_service, tmp_path_factory) -> Reference:
    import apache_beam as beam

    from alpr.connectors.hotlists import ImportOptions, load_file
    from alpr.pipelines.graph import run

    d = tmp_path_factory.mktemp("flink-faults-ref")
    cam = SyntheticCamera("cam-ref", AGENCY, n_vehicles=N_VEHICLES, seed=SEED, fps=FPS)
    frames = list(cam.frames())
    wanted = cam.vehicles[0].plate
    hotlist = _hotlist_file(d / "hotlist.csv", wanted)
    report = load_file(hotlist, opts=ImportOptions(list_code="V", list_name="V"))
    settings = load_settings(inference=f"triton://{triton_service.grpc_url}", store=f"sqlite:{d}/ref.db",
                             alerts_sink=f"jsonl:{d}/alerts.jsonl", deadletter_sink="store", print_results=False,
                             hotlist_refresh_s=0.0)

    def source(p):
        return (p | "Clip" >> beam.Create(frames)
                | "AtCapture" >> beam.Map(lambda f: beam.window.TimestampedValue(f, f.capture_ts)))

    run(settings, hotlist_entries=list(report.entries), frames=source)
    store = open_store(settings.store)
    try:
        span = dict(start_ts=frames[0].capture_ts - 60, end_ts=frames[-1].capture_ts + 60)
        from alpr.connectors.stores.base import ReadQuery

        reads = store.search_reads(ReadQuery(camera_id="cam-ref", limit=100000, **span))
        groups = store.get_groups("cam-ref", **span)
        alerts = store.get_alerts(AGENCY)
        dead = store.get_dead_letters()
    finally:
        store.close()
    assert not dead, [(x.stage, x.reason) for x in dead]
    first = next(g for g in groups if g.best_plate == wanted)
    assert first.num_reads >= 4 and [a.read_plate for a in alerts] == [wanted], \
        f"reference: first group {first.num_reads} reads, {len(alerts)} alerts"
    return Reference(frames, sorted(map(read_key, reads)), sorted(map(group_key, groups)),
                     sorted(map(alert_key, alerts)), wanted, (first.frame_start + first.frame_end + 1) // 2)


class Job:
    """The running job and what the phases share."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.next_start = 0.0

    def checkpoint_ids(self) -> tuple:
        """(last completed checkpoint id, id the job last restored from or None)."""
        latest = self.rest.checkpoints(self.jid).get("latest") or {}
        return ((latest.get("completed") or {}).get("id"), (latest.get("restored") or {}).get("id"))

    def wait_checkpoint_after(self, ckpt, timeout: float = 120):
        return wait_for(lambda: self.checkpoint_ids()[0], lambda c: c is not None and (ckpt is None or c > ckpt),
                        timeout=timeout, every=0.5, what="a new completed checkpoint")

    def cluster_whole(self) -> dict:
        """Every TaskManager of the cluster registered again with all its slots."""
        want = self.flink.taskmanagers * self.flink.task_slots
        return wait_for(lambda: self.rest.get("/overview"),
                        lambda o: o["taskmanagers"] == self.flink.taskmanagers and o["slots-total"] == want,
                        timeout=180, every=2, what=f"{self.flink.taskmanagers} taskmanagers, {want} slots")


def _submit(settings, hotlist, name: str, options=None) -> int:
    from alpr.pipelines.flink.submit import run_flink

    return run_flink(settings, hotlist=str(hotlist), hotlist_list="V", options=options,
                     extra_args=["--job-name", name, "--alerts-delivery", "exactly-once",
                                 "--checkpoint-interval-ms", str(CHECKPOINT_MS)])


@pytest.fixture(scope="module")
def job(reference, kafka_service, cassandra_service, flink_service, triton_service, tmp_path_factory):
    from alpr.pipelines.flink.submit import FlinkRest

    tmp = tmp_path_factory.mktemp("flink-faults")
    job_setup = flink_job_setup("ff", kafka_service, cassandra_service, flink_service, agency=AGENCY,
                                inference=f"triton://{triton_service.grpc_url}")
    name, topics, store_url, settings = job_setup.name, job_setup.topics, job_setup.store_url, job_setup.settings
    hotlist = _hotlist_file(tmp / "hotlist.csv", reference.wanted)
    store = open_store(store_url)
    rest = FlinkRest(flink_service.rest_url)
    old_conf = os.environ.get("FLINK_CONF_DIR")
    if flink_service.conf_dir:
        os.environ["FLINK_CONF_DIR"] = flink_service.conf_dir
    try:
        assert _submit(settings, hotlist, name) == 0
    except BaseException:
        store.close()
        raise
    finally:
        if old_conf is None:
            os.environ.pop("FLINK_CONF_DIR", None)
        else:
            os.environ["FLINK_CONF_DIR"] = old_conf
    jobs = [j for j in rest.get("/jobs/overview")["jobs"] if j["name"] == name]
    jid = max(jobs, key=lambda j: j["start-time"])["jid"]
    j = Job(ref=reference, settings=settings, topics=topics, bootstrap=kafka_service.bootstrap, store=store,
            rest=rest, jid=jid, flink=flink_service, tmp=tmp, name=name, hotlist=hotlist)
    try:
        rest.wait_running(jid, timeout=300)
        yield j
    finally:
        cancel_job(rest, j.jid, store)  # the upgrade phase runs the job again under a new id


def _running(job) -> None:
    job.rest.wait_running(job.jid, timeout=300)


# --------------------------------------------------------------------------- 1. TaskManager
def test_taskmanager_killed_mid_stream_resumes_from_checkpoint_exactly_once(job):
    flink = service_runner("flink")
    _running(job)
    p = Phase(job, "tm")
    p.publish(p.part(hi=job.ref.cut))
    pids = job.flink.taskmanager_pids()
    assert len(pids) == job.flink.taskmanagers, pids
    # the first vehicle is confirmed in this half: kill as soon as its alert is on the topic in
    # a transaction that the next checkpoint would commit
    assert first_alert(job.bootstrap, job.topics["alerts"], p.camera, committed=False, timeout=240), \
        "no alert on the topic"
    before = job.checkpoint_ids()
    try:
        killed = kill_taskmanager(pids[0])
        committed_at_kill = len(first_alert(job.bootstrap, job.topics["alerts"], p.camera, committed=True,
                                            timeout=2))
        p.publish(p.part(lo=job.ref.cut))
        # the TaskManager comes back as a cluster manager would bring back a lost pod; the restart
        # strategy restores the job from its last checkpoint on whichever TaskManager has slots
        flink.up()
        try:
            restored = wait_for(lambda: job.checkpoint_ids()[1], lambda r: r is not None and r != before[1],
                                timeout=300, every=1, what="the job restored from a checkpoint")
        except AssertionError as exc:  # say what the job was doing
            raise AssertionError(f"{exc}; job {job.rest.state(job.jid)}, cluster {job.rest.get('/overview')}, "
                                 f"exceptions {str(job.rest.exceptions(job.jid))[:1500]}") from exc
        assert before[0] is not None and restored >= before[0], (before, restored)
        _running(job)
    finally:
        flink.up()
        overview = job.cluster_whole()
    p.wait_reads(len(job.ref.reads))
    p.end_of_stream()
    alerts = p.assert_whole_clip()
    copies = len(p.alerts(committed=False))
    print(f"taskmanager kill: {killed} processes, restored checkpoint {restored} (last before kill {before[0]}), "
          f"alert committed at kill: {committed_at_kill}, copies read_uncommitted: {copies}, "
          f"alerts {len(alerts)}, cluster {overview['taskmanagers']} TMs, {p.seconds():.0f}s")


# --------------------------------------------------------------------------- 2. Kafka broker
def test_kafka_broker_restarted_mid_stream_loses_and_duplicates_nothing(job):
    kafka = service_runner("kafka")
    _running(job)
    p = Phase(job, "kafka")
    p.publish(p.part(hi=job.ref.cut))
    p.wait_reads(1)
    try:
        kafka.kill()
        time.sleep(3)
    finally:
        kafka.up()  # same ports and data directory: a broker crash and restart
    p.publish(p.part(lo=job.ref.cut))
    p.wait_reads(len(job.ref.reads))
    p.end_of_stream()
    alerts = p.assert_whole_clip()
    _running(job)
    print(f"kafka restart: restored checkpoint {job.checkpoint_ids()[1]}, alerts {len(alerts)}, {p.seconds():.0f}s")


# --------------------------------------------------------------------------- 3. Cassandra
def test_cassandra_stopped_60s_mid_stream_every_row_arrives_once(job):
    cassandra = service_runner("cassandra")
    _running(job)
    p = Phase(job, "cass")
    p.publish(p.part(hi=job.ref.cut))
    p.wait_reads(1)
    cassandra.stop()
    down_at = time.monotonic()
    try:
        p.publish(p.part(lo=job.ref.cut))  # frames keep coming while the store is down
        while time.monotonic() - down_at < 60:
            state = job.rest.state(job.jid)
            assert state not in ("FAILED", "CANCELED"), job.rest.exceptions(job.jid)
            time.sleep(1)
    finally:
        cassandra.up()
    outage = time.monotonic() - down_at
    p.wait_reads(len(job.ref.reads))  # caught up: the other cameras' frames come in real time
    p.end_of_stream()
    alerts = p.assert_whole_clip()
    _running(job)
    print(f"cassandra down {outage:.0f}s: restored checkpoint {job.checkpoint_ids()[1]}, alerts {len(alerts)}, "
          f"{p.seconds():.0f}s")


# --------------------------------------------------------------------------- 4. Triton
def test_triton_killed_mid_stream_frames_dead_lettered_then_recognised_again(job):
    triton = service_runner("triton")
    _running(job)
    ref = job.ref
    p = Phase(job, "triton")
    # A: the first vehicle (served), B: the gap and the second vehicle's first frames (server
    # down), C: the rest (server back)
    first = next(g for g in ref.groups if g[2] == ref.wanted)
    second = min(g[0] for g in ref.groups if g[0] > first[1] and g[3] >= 2)
    b_lo, b_hi = max(first[1] + 1, second - 3), second + 2
    p.publish(p.part(hi=b_lo))
    p.wait_reads(sum(1 for s, _, _ in ref.reads if s < b_lo))
    b = p.part(b_lo, b_hi)
    try:
        triton.kill()
        p.publish(b)
        wait_for(p.dead_letters, lambda d: {f.seq for f in b} <= set(d), timeout=180, every=1,
                 what="every frame sent while Triton is down dead-lettered")
    finally:
        triton.up()
    p.publish(p.part(lo=b_hi))
    c_reads = sum(1 for s, _, _ in ref.reads if s >= b_hi)
    assert c_reads > 0
    b_seqs = {f.seq for f in b}
    reads = p.wait_reads(len(ref.reads) - sum(1 for s, _, _ in ref.reads if s in b_seqs), timeout=240)
    p.end_of_stream()
    p.wait_groups(1)
    dead, by_seq = p.dead_letters(), {f.seq: f for f in p.frames}
    # B, and maybe the plate-less frames between the vehicles that were still in flight
    assert b_seqs <= set(dead) <= set(range(first[1] + 1, b_hi)), sorted(dead)
    assert all("inference failed" in d.reason and d.payload == by_seq[s].data for s, d in dead.items())
    p.assert_reads_exact(reads, without=set(dead))  # C is recognised again: the job rode it out
    assert first in [group_key(g) for g in p.groups()]  # the first vehicle, served before the outage
    on_topic = {}
    for m in read_topic(job.bootstrap, job.topics["deadletter"], idle_s=4, committed=False, max_wait_s=60):
        h = {k: (v or b"").decode() for k, v in m.headers() or []}
        if h.get("key", "").startswith(p.camera + ":"):
            on_topic[int(h["key"].rsplit(":", 1)[1])] = h["stage"]
    assert on_topic == {s: "inference" for s in dead}
    alerts = p.alerts(expect=1)
    assert sorted(map(alert_key, alerts)) == ref.alerts  # the first vehicle's alert, once
    _running(job)
    print(f"triton kill: {len(b)} frames dead-lettered ({sum(1 for s, _, _ in ref.reads if s in b_seqs)} reads), "
          f"{c_reads} reads after recovery, {p.seconds():.0f}s")


# --------------------------------------------------------------------------- 5. upgrade
def test_job_upgraded_from_a_savepoint_keeps_its_open_groups_and_alerts_once(job):
    """Stop with a savepoint mid-vehicle, resubmit a changed job (``alpr run --from-savepoint``,
    now with a per-camera health topic: a new operator) while frames keep coming: the restored
    state carries the open group and the dedupe marks, so the counts match the reference and the
    first vehicle's alert is on the topic once; the new operator reports the camera."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from alpr.connectors.auth import with_credentials
    from alpr.pipelines.flink.options import JobOptions

    _running(job)
    p = Phase(job, "upgrade")
    p.publish(p.part(hi=job.ref.cut))
    assert first_alert(job.bootstrap, job.topics["alerts"], p.camera, committed=True, timeout=240), "no alert"
    health = f"health-{job.name}"
    admin = AdminClient(with_credentials({"bootstrap.servers": job.bootstrap}))  # held until the topic exists
    admin.create_topics([NewTopic(health, 1, 1)])[health].result(30)
    savepoint = job.rest.stop_with_savepoint(job.jid, f"file://{job.tmp}/savepoints")
    old = job.jid
    p.publish(p.part(lo=job.ref.cut))  # the camera does not wait for the upgrade
    conf = os.environ.get("FLINK_CONF_DIR")
    os.environ["FLINK_CONF_DIR"] = job.flink.conf_dir or conf or ""
    try:
        assert _submit(job.settings, job.hotlist, job.name, JobOptions(from_savepoint=savepoint,
                                                                        health_topic=health)) == 0
    finally:
        if conf is None:
            os.environ.pop("FLINK_CONF_DIR", None)
        else:
            os.environ["FLINK_CONF_DIR"] = conf
    job.jid = max((j for j in job.rest.get("/jobs/overview")["jobs"] if j["name"] == job.name),
                  key=lambda j: j["start-time"])["jid"]
    assert job.jid != old
    _running(job)
    restored = wait_for(lambda: job.checkpoint_ids()[1], lambda r: r is not None, timeout=120, every=1,
                        what="the new job restored from the savepoint")
    p.wait_reads(len(job.ref.reads))
    p.end_of_stream()
    alerts = p.assert_whole_clip()
    records = [json.loads(m.value()) for m in read_topic(job.bootstrap, health, idle_s=3, max_wait_s=60)]
    mine = [r for r in records if r["camera_id"] == p.camera]
    assert mine and all(r["agency"] == p.agency and r["status"] == "ok" and r["frames"] >= 1 for r in mine), records
    # the running job as Prometheus scrapes it: every Flink series the dashboards and rules use, and
    # the job's own. PyFlink exports a Python counter only once it was first incremented, so the
    # counters of events this phase does not cause (a new alert: the restored dedupe holds it back,
    # dead letters, hotlist changes and hits after the restore) may still be absent
    missing = _unserved_dashboard_metrics(job.flink)
    quiet = {f"{flink_metrics.JOB_PREFIX}{n}" for n in (
        "alerts", "alerts_deduplicated", "dead_letters", "hotlist_changes", "hotlist_hits", "store_alerts_ms_total",
        "store_alerts_rows", "store_alerts_past_retention", "store_dead_letters_ms_total", "store_dead_letters_rows",
        "store_dead_letters_past_retention")}
    assert set(missing) <= quiet, f"dashboards/rules use series the running job's reporters do not serve: {missing}"
    print(f"upgrade: savepoint {savepoint}, restored {restored}, alerts {len(alerts)}, "
          f"health records {len(mine)}, {p.seconds():.0f}s")


def _unserved_dashboard_metrics(flink) -> list[str]:
    """Every ``flink_*`` series a provisioned dashboard or alert rule uses that none of the
    cluster's Prometheus reporters (JobManager, TaskManagers) serves while the job runs."""
    import re
    import urllib.request
    from pathlib import Path

    from alpr.observability import catalog

    if not flink.run_dir:
        pytest.skip("reporter ports are only known for a cluster started here")
    conf = (Path(flink.run_dir) / "conf" / "config.yaml").read_text()
    ports = [int(p) for p in conf.split("metrics.reporter.prom.port:")[1].splitlines()[0].strip(' "').split(",")]
    served: set[str] = set()
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                served |= set(re.findall(r"^(flink_[A-Za-z0-9_:]+)", resp.read().decode(), re.M))
        except OSError:
            continue
    dashboards, rules = catalog.repo_files(Path(__file__).resolve().parents[1])
    used = {r.metric for r in catalog.references(dashboards, rules) if r.metric.startswith("flink_")}
    return sorted(used - served)
