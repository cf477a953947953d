"""The ALPR streaming job on the local Flink cluster, end to end.

Kafka frames (a synthetic clip, published by the camera gateway, keyed by camera) ->
``alpr run --runner flink`` (``run_flink``: ``bin/flink run -py pipelines/flink/job.py``,
parallelism 2, in-process ONNX recognition, a hotlist file holding one of the clip's plates)
-> alerts on Kafka (transactional ``KafkaSink``, read with ``isolation.level=read_committed``),
reads and groups in Cassandra, planted bad frames as dead letters on the dead-letter topic and
in Cassandra. Then the same clip through the Beam binding (DirectRunner, in
process, SQLite) must give identical reads, groups and alerts.

Services: ``kafka_service``, ``cassandra_service``, ``flink_service`` (tests/services.py).
One clip of 2 vehicles, 79 frames (the second is on the hotlist): about 2-4 minutes on
2 busy cores.
"""
from __future__ import annotations

import os
import time
import uuid

import pytest

from alpr.config import KafkaConfig, load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.kafka import CameraGateway, frame_headers
from alpr.connectors.stores import open_store
from alpr.connectors.stores.base import ReadQuery
from alpr.records import Alert, Frame
from flink_helpers import blank_jpeg, make_topics, read_topic, wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

N_VEHICLES, SEED, AGENCY = 2, 21, "AGFJ"
RESULT_TIMEOUT_S = 600


def _hotlist_file(path, plate: str):
    path.write_text("plate,list_code,list_name,priority,source\n"
                    f"{plate},V,Stolen Vehicle,10,ncic\n")
    return path


def _stored(store, camera: str, t0: float):
    reads = store.search_reads(ReadQuery(camera_id=camera, start_ts=t0 - 60, end_ts=t0 + 3600, limit=100000))
    groups = [g for g in store.get_groups(camera_id=camera) if g.camera_id == camera]
    return reads, groups


def _job_id(rest, name: str) -> str:
    jobs = [j for j in rest.get("/jobs/overview")["jobs"] if j["name"] == name]
    assert jobs, f"no job named {name} on the cluster"
    return max(jobs, key=lambda j: j["start-time"])["jid"]


@pytest.fixture(scope="module")
def flink_run(kafka_service, cassandra_service, flink_service, tmp_path_factory):
    from alpr.pipelines.flink.submit import FlinkRest, run_flink

    tmp = tmp_path_factory.mktemp("flink-job")
    run_id = uuid.uuid4().hex[:8]
    camera, name = f"cam-fj-{run_id}", f"alpr-it-{run_id}"
    topics = make_topics(kafka_service.bootstrap, f"fj-{run_id}", partitions=2)
    agency_topic = _agency_topic(kafka_service.bootstrap, topics["alerts"])  # kafka.agency_alert_topics
    kafka = KafkaConfig(bootstrap=kafka_service.bootstrap, frames_topic=topics["frames"],
                        alerts_topic=topics["alerts"], deadletter_topic=topics["deadletter"],
                        hotlist_topic=topics["hotlist"], group_id=f"alpr-fj-{run_id}", agency_alert_topics=True)
    parallelism = min(2, flink_service.taskmanagers * flink_service.task_slots)
    # the job's Python workers load the models on both cores as it starts: Cassandra may answer
    # slowly then, so the job and this test retry for a while, as production does (README)
    store_url = (f"cassandra://{cassandra_service.host}:{cassandra_service.port}/{cassandra_service.keyspace}"
                 "?retry_budget_s=240")
    settings = load_settings(runner="flink", flink_master=flink_service.master, parallelism=parallelism,
                             source="kafka", camera_id=camera, agency=AGENCY, inference="onnx", store=store_url,
                             alerts_sink="kafka", deadletter_sink="kafka").replace(kafka=kafka)

    cam = SyntheticCamera(camera, AGENCY, n_vehicles=N_VEHICLES, seed=SEED, start_ts=time.time())
    frames = list(cam.frames())
    plates = [v.plate for v in cam.vehicles]
    wanted = plates[1]
    hotlist = _hotlist_file(tmp / "hotlist.csv", wanted)
    gw = CameraGateway(kafka.bootstrap, kafka.frames_topic)
    assert gw.publish(frames) == len(frames)
    # planted bad frames: empty, not a JPEG, and one without its capture_ts header
    gw.publish([Frame(camera, AGENCY, 90000, frames[0].capture_ts, b""),
                Frame(camera, AGENCY, 90001, frames[0].capture_ts, b"\xff\xd8\xff\xe0not really a jpeg")])
    gw.publish_raw(camera, frames[0].data, [h for h in frame_headers(frames[0]) if h[0] != "capture_ts"])
    gw.flush()
    # what a live camera does on its own: a later frame (no plate) moves its partition's watermark
    # past the clip, so the last vehicle's group closes too. Only the camera's own partition gets
    # it: the other partition of the topic stays quiet the whole time and must not hold the
    # watermark back (the KafkaSource's idleness, issue 13 item 1): every check below needs it.
    gw.publish([Frame(camera, AGENCY, 90002, frames[-1].capture_ts + 3 * settings.grouping.time_delta_s, blank_jpeg())])
    gw.flush()

    store = open_store(store_url)  # connected before the job takes the cores
    rest = FlinkRest(flink_service.rest_url)
    old_conf = os.environ.get("FLINK_CONF_DIR")
    if flink_service.conf_dir:
        os.environ["FLINK_CONF_DIR"] = flink_service.conf_dir
    t_submit = time.monotonic()
    try:
        rc = run_flink(settings, hotlist=str(hotlist), hotlist_list="V",
                       extra_args=["--job-name", name, "--alerts-delivery", "exactly-once"])
    except BaseException:
        store.close()
        raise
    finally:
        if old_conf is None:
            os.environ.pop("FLINK_CONF_DIR", None)
        else:
            os.environ["FLINK_CONF_DIR"] = old_conf
    if rc != 0:
        store.close()
    assert rc == 0
    jid = _job_id(rest, name)
    try:
        rest.wait_running(jid, timeout=300)
        job = rest.job(jid)
        placement = {v["name"]: {st["taskmanager-id"] for st in rest.get(f"/jobs/{jid}/vertices/{v['id']}")["subtasks"]}
                     for v in job["vertices"]}

        group_seen = {}  # best plate -> wall time its closed group was first seen in the store

        def progress():
            state = rest.state(jid)
            if state != "RUNNING":
                raise AssertionError(f"job {state}: {rest.exceptions(jid)}")
            got = _stored(store, camera, frames[0].capture_ts)
            for g in got[1]:
                group_seen.setdefault(g.best_plate, time.time())
            return got

        # every vehicle's group closed, then nothing more arrives for a while
        reads, groups = wait_for(progress, lambda rg: len(rg[1]) >= N_VEHICLES, timeout=RESULT_TIMEOUT_S, every=3,
                                 what="one closed group per vehicle in Cassandra")
        alert_msgs = read_topic(kafka.bootstrap, kafka.alerts_topic, idle_s=8, committed=True, max_wait_s=120,
                                expect=1)
        dead_msgs = read_topic(kafka.bootstrap, kafka.deadletter_topic, idle_s=5, max_wait_s=120, expect=3)
        agency_msgs = read_topic(kafka.bootstrap, agency_topic, idle_s=5, committed=True, max_wait_s=120, expect=1)
        reads, groups = _stored(store, camera, frames[0].capture_ts)
        out = dict(settings=settings, kafka=kafka, store=store, camera=camera, plates=plates, wanted=wanted,
                   frames=frames, hotlist=hotlist, reads=reads, groups=groups, alert_msgs=alert_msgs,
                   agency_msgs=agency_msgs,
                   stored_alerts=[a for a in store.get_alerts(AGENCY) if a.camera_id == camera],
                   dead_msgs=dead_msgs, stored_dead=[d for d in store.get_dead_letters()
                                                     if camera in d.key or kafka.frames_topic in d.key],
                   group_seen=group_seen, job=job, placement=placement, parallelism=parallelism, seconds=time.monotonic() - t_submit,
                   checkpoints=rest.completed_checkpoints(jid))
    except BaseException:
        store.close()
        raise
    finally:  # the Beam reference runs after it, on the cores the job no longer needs
        rest.cancel(jid)
        rest.wait_state(jid, {"CANCELED"}, timeout=120)
    yield out
    store.close()


def _agency_topic(bootstrap: str, alerts_topic: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    from alpr.connectors.auth import with_credentials

    name, admin = f"{alerts_topic}.{AGENCY}", AdminClient(with_credentials({"bootstrap.servers": bootstrap}))
    for fut in admin.create_topics([NewTopic(name, 2, 1)]).values():
        fut.result(30)
    return name


def test_job_runs_with_parallelism_2_over_both_taskmanagers(flink_run):
    job = flink_run["job"]
    assert {v["parallelism"] for v in job["vertices"]} == {flink_run["parallelism"]}
    if flink_run["parallelism"] == 2:
        busy = [v for v in flink_run["placement"] if v.startswith(("recognize", "group-match"))]
        assert len(busy) == 2 and all(len(flink_run["placement"][v]) == 2 for v in busy), flink_run["placement"]
    assert flink_run["checkpoints"] >= 1  # exactly-once alerts are committed at checkpoints


def test_alerts_topic_holds_exactly_one_alert_per_vehicle_and_entry(flink_run):
    mine = [(m, Alert.from_json(m.value())) for m in flink_run["alert_msgs"]]
    mine = [(m, a) for m, a in mine if a.camera_id == flink_run["camera"]]
    assert [a.read_plate for _, a in mine] == [flink_run["wanted"]]
    msg, alert = mine[0]
    assert alert.list_code == "V" and alert.match_type == "exact" and alert.agency == AGENCY
    headers = {k: (v or b"").decode() for k, v in msg.headers() or []}
    assert headers["schema"] == "Alert/1" and headers["alert_id"] == alert.alert_id
    assert msg.key() == AGENCY.encode()
    wanted_group = [g for g in flink_run["groups"] if g.best_plate == flink_run["wanted"]]
    assert [alert.group_id] == [g.group_id for g in wanted_group]
    assert [a.alert_id for a in flink_run["stored_alerts"]] == [alert.alert_id]
    # and on the agency's own topic (<alerts>.<agency>, the one its consumer principal may read)
    assert [Alert.from_json(m.value()).alert_id for m in flink_run["agency_msgs"]] == [alert.alert_id]


def test_the_alert_fires_while_the_vehicles_group_is_still_open(flink_run):
    """Matched when the open group is first confirmed, not when it closes (its row is written
    only then), and a later, better read of the vehicle raises no second alert."""
    (alert,) = [Alert.from_json(m.value()) for m in flink_run["alert_msgs"]]
    assert alert.emitted_ts < flink_run["group_seen"][flink_run["wanted"]]


def test_cassandra_holds_one_group_per_vehicle_and_its_reads(flink_run):
    reads, groups = flink_run["reads"], flink_run["groups"]
    assert sorted(g.best_plate for g in groups) == sorted(flink_run["plates"])
    by_id = {r.read_id: r for r in reads}
    assert len(by_id) == len(reads) == sum(g.num_reads for g in groups)
    for g in groups:
        assert set(g.read_ids) <= set(by_id) and g.num_reads >= 2
    ttl_left = flink_run["store"].read_expiry(reads[0].read_id) - time.time()
    assert 0 < ttl_left <= flink_run["settings"].ttl_s


def test_planted_bad_frames_are_dead_letters_on_the_topic_and_in_the_store(flink_run):
    camera, topic = flink_run["camera"], flink_run["kafka"].frames_topic
    on_topic = {}
    for m in flink_run["dead_msgs"]:
        h = {k: (v or b"").decode() for k, v in m.headers() or []}
        on_topic[h["key"]] = h
    missing_ts = [k for k in on_topic if k.startswith(f"{topic}[")]
    assert sorted(on_topic) == sorted([f"{camera}:90000", f"{camera}:90001", *missing_ts]) and len(missing_ts) == 1
    # the same dead letter as the Beam Kafka source writes: key topic[partition]@offset, headers in detail
    h = on_topic[missing_ts[0]]
    assert "missing capture_ts" in h["reason"] and h["stage"] == "source"
    assert h["detail"] == f"camera={camera} agency={AGENCY} seq=0"
    assert {on_topic[f"{camera}:{seq}"]["stage"] for seq in (90000, 90001)} == {"decode"}
    assert all(h["reason"] for h in on_topic.values())
    assert sorted(d.key for d in flink_run["stored_dead"]) == sorted(on_topic)


def _beam_reference(flink_run, tmp_path):
    """The same frames and hotlist through the Beam binding (in process, SQLite, JSONL alerts)."""
    import apache_beam as beam

    from alpr.connectors.hotlists import ImportOptions, load_file
    from alpr.pipelines.graph import run

    report = load_file(flink_run["hotlist"], opts=ImportOptions(list_code="V", list_name="V"))
    assert not report.errors
    settings = flink_run["settings"].replace(runner="direct", parallelism=1, store=f"sqlite:{tmp_path}/beam.db",
                                             alerts_sink=f"jsonl:{tmp_path}/alerts.jsonl", deadletter_sink="store")
    frames = flink_run["frames"]

    def source(p):
        return (p | "Clip" >> beam.Create(frames)
                | "AtCapture" >> beam.Map(lambda f: beam.window.TimestampedValue(f, f.capture_ts)))

    run(settings, hotlist_entries=list(report.entries), frames=source)
    store = open_store(settings.store)
    try:
        reads, groups = _stored(store, flink_run["camera"], frames[0].capture_ts)
        return reads, groups, store.get_alerts(AGENCY)
    finally:
        store.close()


def test_same_reads_groups_and_alerts_as_the_beam_binding(flink_run, tmp_path):
    reads, groups, alerts = _beam_reference(flink_run, tmp_path)
    assert sorted((r.read_id, r.plate) for r in reads) == sorted((r.read_id, r.plate) for r in flink_run["reads"])

    def group_key(g):
        return (g.group_id, g.best_plate, tuple(sorted(g.read_ids)), g.epoch_start, g.epoch_end)

    assert sorted(map(group_key, groups)) == sorted(map(group_key, flink_run["groups"]))

    def alert_key(a):
        return (a.alert_id, a.group_id, a.entry_id, a.read_plate, a.list_code, a.match_type)

    flink_alerts = [Alert.from_json(m.value()) for m in flink_run["alert_msgs"]]
    assert sorted(map(alert_key, alerts)) == sorted(map(alert_key, flink_alerts))
