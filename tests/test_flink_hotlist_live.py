"""Live hotlists on the running Flink job (issue 13, item 3): changes published to the compacted
``hotlist`` topic take effect without a restart.

The job (``alpr run --runner flink``, in-process ONNX, Cassandra store, transactional
``KafkaSink`` read with ``isolation.level=read_committed``) starts with a hotlist file holding
one unrelated plate. The same 3 vehicles (V0, V1, V2) then pass twice, as two cameras of two
agencies (so that alert dedupe, keyed by agency and entry, cannot hide anything):

1. published through :class:`HotlistPublisher` while the job runs: A = V0 (lenient), X = V1 with
   its last character changed (exact-only), C = V2 (lenient, expiring between the passes).
   First pass: alerts for A and C only (X does not hit the one-character-off V1).
2. published: A removed (a tombstone), D = the same one-off V1 plate as X but lenient.
   Second pass: an alert for D only: A was removed, C has expired (at capture time), and the
   lenient D shows that the one-off plate is a hit for everything but an exact-only entry.

Services: kafka, cassandra, flink (tests/services.py). Measured on 2 busy cores: 4 min 30 s with the
services' start (the job running to the end of the test: 115 s).
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import replace

import pytest

from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.stores import open_store
from alpr.records import Alert, HotlistEntry, stable_id
from flink_helpers import cancel_job, flink_job_setup, publish_frames, publish_ticks, read_topic, wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

N_VEHICLES, SEED, FPS = 3, 33, 2.0
AGENCIES = ("AGHLA", "AGHLB")


def _one_off(plate: str) -> str:
    last = plate[-1]
    swap = str((int(last) + 1) % 10) if last.isdigit() else ("A" if last != "A" else "B")
    return plate[:-1] + swap


def _entry(tag: str, plate: str, strategy: str = "lenient", expires_at=None) -> HotlistEntry:
    return HotlistEntry(entry_id=stable_id("flink-live", tag, plate), plate=plate, list_code="V",
                        list_name="Stolen Vehicle", priority=10, source="ncic", match_strategy=strategy,
                        expires_at=expires_at, created_ts=time.time())


@pytest.fixture(scope="module")
def live(kafka_service, cassandra_service, flink_service, tmp_path_factory):
    from alpr.connectors.kafka_hotlist import HotlistPublisher
    from alpr.pipelines.flink.submit import FlinkRest, run_flink

    tmp = tmp_path_factory.mktemp("flink-hotlist-live")
    job_setup = flink_job_setup("hl", kafka_service, cassandra_service, flink_service, agency=AGENCIES[0],
                                inference="onnx")
    name, topics, store_url, settings = job_setup.name, job_setup.topics, job_setup.store_url, job_setup.settings
    parallelism, kafka = job_setup.parallelism, settings.kafka
    hotlist = tmp / "hotlist.csv"  # unrelated to the clip: the job starts without its plates
    hotlist.write_text("plate,list_code,list_name,priority,source\nQQQ9999,V,Stolen Vehicle,10,ncic\n")

    store = open_store(store_url)
    publisher = HotlistPublisher(kafka.bootstrap, kafka.hotlist_topic)
    rest = FlinkRest(flink_service.rest_url)
    old_conf = os.environ.get("FLINK_CONF_DIR")
    if flink_service.conf_dir:
        os.environ["FLINK_CONF_DIR"] = flink_service.conf_dir
    try:
        assert run_flink(settings, hotlist=str(hotlist), hotlist_list="V",
                         extra_args=["--job-name", name, "--alerts-delivery", "exactly-once"]) == 0
    except BaseException:
        store.close()
        publisher.close()
        raise
    finally:
        if old_conf is None:
            os.environ.pop("FLINK_CONF_DIR", None)
        else:
            os.environ["FLINK_CONF_DIR"] = old_conf
    jobs = [j for j in rest.get("/jobs/overview")["jobs"] if j["name"] == name]
    jid = max(jobs, key=lambda j: j["start-time"])["jid"]
    try:
        rest.wait_running(jid, timeout=300)
        yield dict(settings=settings, topics=topics, bootstrap=kafka.bootstrap, store=store, rest=rest, jid=jid,
                   publisher=publisher, parallelism=parallelism, t0=time.monotonic())
    finally:
        cancel_job(rest, jid, store, publisher)


class Pass:
    """One passage of the clip as camera ``cam-hl-<n>`` of agency ``AGENCIES[n]``."""

    def __init__(self, live, n: int, frames, start_ts: float):
        self.live, self.agency = live, AGENCIES[n]
        self.camera = f"cam-hl{n}-{uuid.uuid4().hex[:6]}"
        shift = start_ts - frames[0].capture_ts
        self.frames = [replace(f, camera_id=self.camera, agency=self.agency, capture_ts=f.capture_ts + shift)
                       for f in frames]
        self.end_ts = self.frames[-1].capture_ts + 3 * live["settings"].grouping.time_delta_s

    def run(self) -> list[Alert]:
        """Publish the frames and a tick per partition; once every vehicle's group is closed (any
        alert of theirs went out when it was confirmed, before), the committed alerts."""
        lv = self.live
        publish_frames(lv["bootstrap"], lv["topics"]["frames"], self.frames)
        publish_ticks(lv["bootstrap"], lv["topics"]["frames"], 2, self.end_ts)

        def groups():
            state = lv["rest"].state(lv["jid"])
            if state != "RUNNING":
                raise AssertionError(f"job {state}: {lv['rest'].exceptions(lv['jid'])}")
            return [g for g in lv["store"].get_groups(self.camera, start_ts=self.frames[0].capture_ts - 60,
                                                      end_ts=self.end_ts + 60) if g.camera_id == self.camera]

        self.groups = wait_for(groups, lambda gs: len(gs) >= N_VEHICLES, timeout=300, every=2,
                               what=f"{N_VEHICLES} closed groups of {self.camera}")
        self.dead = [d for d in lv["store"].get_dead_letters() if d.key.startswith(self.camera + ":")]
        msgs = read_topic(lv["bootstrap"], lv["topics"]["alerts"], idle_s=6, committed=True, max_wait_s=60)
        return [a for a in (Alert.from_json(m.value()) for m in msgs) if a.camera_id == self.camera]


def _diag(p: Pass, plates) -> str:
    """Which vehicle each closed group is (index, no plates), its reads, and dead letters."""
    groups = [(plates.index(g.best_plate) if g.best_plate in plates else None, g.num_reads, g.frame_start)
              for g in p.groups]
    lv = p.live
    raw = read_topic(lv["bootstrap"], lv["topics"]["alerts"], idle_s=3, committed=False, max_wait_s=30)
    uncommitted = sorted(a.entry_id for a in (Alert.from_json(m.value()) for m in raw) if a.camera_id == p.camera)
    return f"groups (vehicle, reads, first frame) {sorted(groups, key=lambda g: g[2])}; dead letters " \
           f"{[(d.stage, d.reason[:80]) for d in p.dead]}; read_uncommitted {uncommitted}"


def _applied(live, at_least: int) -> None:
    """The job's group-match operator applied ``at_least`` more hotlist changes on every subtask."""
    wait_for(lambda: live["rest"].operator_metric(live["jid"], "group-match", "hotlist_changes"),
             lambda v: v >= at_least * live["parallelism"], timeout=120, every=1, what="hotlist changes applied")


def test_hotlist_changes_on_the_topic_reach_the_running_job(live):
    cam = SyntheticCamera("cam-ref", AGENCIES[0], n_vehicles=N_VEHICLES, seed=SEED, fps=FPS)
    clip = list(cam.frames())
    v0, v1, v2 = (v.plate for v in cam.vehicles)
    off = _one_off(v1)
    first = Pass(live, 0, clip, time.time())
    second = Pass(live, 1, clip, first.end_ts + 5)
    entry_a, entry_x = _entry("a", v0), _entry("x", off, "exact")
    entry_c = _entry("c", v2, expires_at=second.frames[0].capture_ts - 1)  # valid in pass 1 only
    entry_d = _entry("d", off)

    from alpr.connectors.kafka_hotlist import removals, upserts

    pub = live["publisher"]
    pub.publish(upserts([entry_a, entry_x, entry_c]))
    _applied(live, 3)
    alerts = first.run()
    assert sorted(a.entry_id for a in alerts) == sorted([entry_a.entry_id, entry_c.entry_id]), \
        f"pass 1: {len(alerts)} alerts; {_diag(first, [v0, v1, v2])}"
    assert len({a.alert_id for a in alerts}) == len(alerts)
    assert {a.read_plate for a in alerts if a.entry_id == entry_a.entry_id} == {v0}

    pub.publish(removals([entry_a.entry_id]) + upserts([entry_d]))
    _applied(live, 5)
    alerts = second.run()
    assert [a.entry_id for a in alerts] == [entry_d.entry_id], \
        f"pass 2: {len(alerts)} alerts; {_diag(second, [v0, v1, v2])}"
    assert alerts[0].match_type != "exact"  # the one-off plate: a lenient hit, never the exact-only X
    # the job was never restarted: the same attempt, no restore
    ckpts = live["rest"].checkpoints(live["jid"])
    assert not (ckpts.get("latest") or {}).get("restored")
    print(f"live hotlist test: {time.monotonic() - live['t0']:.0f} s after the job was running")
