"""The streaming job with ``inference: triton+frames://``: the Flink job's recognize operator
sends each batch's encoded frames to Triton's ``plate_read`` in one request (several frames per
request, read from the server's own statistics), every vehicle's reads reach Cassandra, and a
frame only the server finds undecodable is dead-lettered alone, with stage ``decode``.

Services: kafka, cassandra, flink, triton (tests/services.py). One vehicle, about 40 frames.
"""
from __future__ import annotations

import os
import time
import uuid

import pytest

from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.kafka import CameraGateway
from alpr.connectors.stores import open_store
from alpr.connectors.stores.base import ReadQuery
from alpr.records import Frame
from flink_helpers import flink_job_setup, publish_ticks, read_topic, wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

AGENCY = "AGTF"


def _plate_read_stats(url: str) -> tuple[int, int]:
    """(frames read, requests served) by plate_read since the server started."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    try:
        s = client.get_inference_statistics("plate_read", as_json=True)["model_stats"][0]
    finally:
        client.close()
    return int(s.get("inference_count", 0)), int(s["inference_stats"].get("success", {}).get("count", 0))


def test_flink_job_sends_frames_to_plate_read(kafka_service, cassandra_service, flink_service, triton_service):
    from alpr.pipelines.flink.submit import FlinkRest, run_flink

    camera = f"cam-tf-{uuid.uuid4().hex[:8]}"
    job_setup = flink_job_setup("tf", kafka_service, cassandra_service, flink_service, parallelism=1,
                                camera_id=camera, agency=AGENCY, inference=f"triton+frames://{triton_service.grpc_url}")
    name, store_url, settings = job_setup.name, job_setup.store_url, job_setup.settings
    kafka = settings.kafka
    cam = SyntheticCamera(camera, AGENCY, n_vehicles=1, seed=5, start_ts=time.time())
    frames = list(cam.frames())
    in_view = sorted({t.seq for t in cam.ground_truth()})
    gw = CameraGateway(kafka.bootstrap, kafka.frames_topic)
    assert gw.publish(frames) == len(frames)
    # a JPEG cut inside its header: passes the job's header check, only the server finds it undecodable
    gw.publish([Frame(camera, AGENCY, 90000, frames[0].capture_ts, frames[0].data[:300])])
    gw.flush()
    publish_ticks(kafka.bootstrap, kafka.frames_topic, 2, frames[-1].capture_ts + 3 * settings.grouping.time_delta_s)
    n0, r0 = _plate_read_stats(triton_service.grpc_url)

    store = open_store(store_url)
    rest = FlinkRest(flink_service.rest_url)
    old_conf = os.environ.get("FLINK_CONF_DIR")
    if flink_service.conf_dir:
        os.environ["FLINK_CONF_DIR"] = flink_service.conf_dir
    try:
        assert run_flink(settings, extra_args=["--job-name", name]) == 0
    finally:
        if old_conf is None:
            os.environ.pop("FLINK_CONF_DIR", None)
        else:
            os.environ["FLINK_CONF_DIR"] = old_conf
    jid = max((j for j in rest.get("/jobs/overview")["jobs"] if j["name"] == name), key=lambda j: j["start-time"])["jid"]
    try:
        rest.wait_running(jid, timeout=300)

        def stored():
            if rest.state(jid) != "RUNNING":
                raise AssertionError(f"job {rest.state(jid)}: {rest.exceptions(jid)}")
            q = ReadQuery(camera_id=camera, start_ts=frames[0].capture_ts - 60, end_ts=frames[0].capture_ts + 3600,
                          limit=100000)
            return store.search_reads(q), [g for g in store.get_groups(camera_id=camera) if g.camera_id == camera]

        reads, groups = wait_for(stored, lambda rg: len(rg[1]) >= 1, timeout=600, every=3,
                                 what="the vehicle's group in Cassandra")
        dead = read_topic(kafka.bootstrap, kafka.deadletter_topic, idle_s=5, max_wait_s=120, expect=1)
    finally:
        rest.cancel(jid)
        rest.wait_state(jid, {"CANCELED"}, timeout=120)
        store.close()
    n1, r1 = _plate_read_stats(triton_service.grpc_url)
    frames_read, requests = n1 - n0, r1 - r0
    print(f"plate_read: {frames_read} frames in {requests} requests")
    assert frames_read >= len(frames) and requests >= 1
    assert frames_read / requests >= 2.0  # batches of several frames per request from the job
    assert {r.frame_id for r in reads} <= {f.frame_id for f in frames} and len(reads) >= len(in_view) // 2
    heads = [{k: (v or b"").decode() for k, v in m.headers() or []} for m in dead]
    mine = [h for h in heads if h.get("key") == f"{camera}:90000"]
    assert len(mine) == 1 and mine[0]["stage"] == "decode" and "cannot decode" in mine[0]["reason"], heads
