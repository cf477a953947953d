"""Triton's plate_read (encoded frames in, plates out) on the real tritonserver: the same plates
as the in-process recogniser, several frames per request, per-frame errors for corrupt frames,
and the recognize stage on ``triton+frames://``."""

from __future__ import annotations

import pickle
import time

import pytest

from alpr.inference.backends import DEFAULT_MODEL_DIR, OnnxBackend
from alpr.inference.frame_reads import MODEL, FrameRecognizer
from alpr.inference.recognizer import PlateRecognizer, decode_image
from alpr.inference.triton_frames import TritonFrameRecognizer
from alpr.pipelines.core.decode import DecodedFrame
from alpr.pipelines.core.recognize import RecognizeStage
from alpr.records import DeadLetter, Frame

pytestmark = [pytest.mark.services,
              pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "rec.onnx").is_file(), reason="vendored PP-OCR models missing")]


@pytest.fixture(scope="module")
def frames():
    """Twelve synthetic camera frames (JPEG, 1280x720) with vehicles in view."""
    from alpr.connectors.camera.synthetic import SyntheticCamera

    cam = SyntheticCamera("cam-tf", "AG1", n_vehicles=2, seed=4)
    seen = sorted({t.seq for t in cam.ground_truth()})
    return [cam.frame(s) for s in seen[2:len(seen):max(1, len(seen) // 12)][:12]]


@pytest.fixture(scope="module")
def in_process(frames):
    rec = PlateRecognizer(OnnxBackend(intra_op_threads=1))
    return rec.recognize_batch([decode_image(f.data) for f in frames])


@pytest.fixture()
def remote(triton_service):
    r = TritonFrameRecognizer(triton_service.grpc_url, timeout_s=120, retries=2, backoff_s=0.1)
    yield r
    r.close()


def _stats(url: str) -> tuple[int, int]:
    """(inference_count, execution_count) of plate_read: frames read, and model executions."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    try:
        s = client.get_inference_statistics(MODEL, as_json=True)["model_stats"][0]
        return int(s.get("inference_count", 0)), int(s.get("execution_count", 0))
    finally:
        client.close()


def _corrupt(data: bytes) -> bytes:
    return data[:300]  # a JPEG cut inside its header: passes the client's header check, never decodes


def test_model_config(triton_service):
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(triton_service.grpc_url)
    try:
        assert client.is_model_ready(MODEL)
        cfg = client.get_model_config(MODEL, as_json=True)["config"]
    finally:
        client.close()
    assert cfg["backend"] == "python" and int(cfg["max_batch_size"]) >= 8 and "dynamic_batching" in cfg
    assert [(i["name"], i["data_type"]) for i in cfg["input"]] == [("frames", "TYPE_STRING")]
    assert [(o["name"], o["data_type"]) for o in cfg["output"]] == [("reads", "TYPE_STRING")]


def test_same_plates_as_in_process(remote, frames, in_process):
    assert isinstance(remote, FrameRecognizer)
    got = remote.read_frames([f.data for f in frames])
    assert len(got) == len(frames) and all(r.ok for r in got)
    assert sum(len(p) for p in in_process) >= len(frames) // 2  # the frames do show plates
    for res, want in zip(got, in_process):
        assert (res.width, res.height) == (1280, 720)
        assert [p.plate for p in res.plates] == [p.plate for p in want]
        for p, q in zip(res.plates, want):
            # same code, models, decoded pixels and resized inputs; the server's environment has
            # other OpenCV / ONNX Runtime builds (numpy < 2 for the stub), whose crops and network
            # outputs differ in the last bits: a weak read's confidence moves by up to ~2 points
            assert abs(p.confidence - q.confidence) <= 3.0
            assert all(abs(a - b) <= 2.0 for pa, qa in zip(p.coordinates, q.coordinates) for a, b in zip(pa, qa))
            assert p.candidates[0].plate == q.candidates[0].plate == p.plate
            assert (p.region, p.detector, p.recognizer) == (q.region, q.detector, q.recognizer)


def test_a_request_carries_the_batch(remote, frames, triton_service):
    batch = [f.data for f in frames[:8]]
    n0, e0 = _stats(triton_service.grpc_url)
    remote.read_frames(batch)
    deadline = time.monotonic() + 10
    while True:  # the server updates its statistics just after it answers
        n1, e1 = _stats(triton_service.grpc_url)
        if n1 - n0 >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert remote.sent == {"requests": 1, "frames": 8, "bytes": sum(len(b) for b in batch)}
    assert (n1 - n0, e1 - e0) == (8, 1)  # eight frames read in one execution of the model
    assert remote.sent["bytes"] / 8 < 300_000  # encoded frames, not float tensors


def test_batches_above_max_batch_size_are_split(remote, frames):
    limit = remote.rpc._max_batch_size(MODEL)
    data = [frames[i % len(frames)].data for i in range(limit + 1)]
    got = remote.read_frames(data)
    assert len(got) == limit + 1 and all(r.ok for r in got)
    assert remote.sent["requests"] == 2


def test_corrupt_frame_is_a_per_frame_error(remote, frames, in_process):
    batch = [frames[0].data, _corrupt(frames[1].data), frames[2].data, b"\xff\xd8\xffgarbage"]
    got = remote.read_frames(batch)
    assert remote.sent["requests"] == 1
    assert [r.ok for r in got] == [True, False, True, False]
    assert got[1].error_stage == "decode" and "cannot decode frame" in got[1].error
    assert [p.plate for p in got[0].plates] == [p.plate for p in in_process[0]]
    assert [p.plate for p in got[2].plates] == [p.plate for p in in_process[2]]


def test_pickled_recognizer_reconnects(remote, frames):
    first = remote.read_frames([frames[3].data])
    clone = pickle.loads(pickle.dumps(remote))
    assert clone.rpc._client is None and clone.sent["requests"] == 0
    assert [p.plate for p in clone.read_frames([frames[3].data])[0].plates] == [p.plate for p in first[0].plates]
    clone.close()


def test_recognize_stage_on_frames(triton_service, frames):
    remote = RecognizeStage(f"triton+frames://{triton_service.grpc_url}", topn=5)
    local = RecognizeStage("onnx", topn=5)
    bad = Frame("cam-tf", "AG1", 9999, frames[0].capture_ts, _corrupt(frames[1].data))
    try:
        decoded = [remote.decode(f) for f in [*frames[:4], bad]]
        assert all(isinstance(d, DecodedFrame) and d.image is None for d in decoded)  # no pixels here
        reads, dead = remote.run(decoded)
        want, _ = local.run([local.decode(f) for f in frames[:4]])
        assert remote._recognizer.sent["requests"] == 1
    finally:
        remote.close()
        local.close()
    assert [(r.read_id, r.plate, r.img_width, r.img_height) for r in reads] == \
        [(r.read_id, r.plate, r.img_width, r.img_height) for r in want]
    assert len(dead) == 1 and isinstance(dead[0], DeadLetter)
    assert dead[0].stage == "decode" and dead[0].key == "cam-tf:9999" and dead[0].payload == bad.data


def test_recogniser_settings_travel_with_the_request(triton_service, frames, in_process):
    """topn / fine_long_side reach the server's recogniser (one per combination of settings)."""
    one = TritonFrameRecognizer(triton_service.grpc_url, topn=1, fine_long_side=0, timeout_s=120)
    try:
        got = one.read_frames([frames[7].data])[0]  # a sure read: the finer pass would not run anyway
    finally:
        one.close()
    assert got.ok and [p.plate for p in got.plates] == [p.plate for p in in_process[7]]
    assert all(len(p.candidates) == 1 for p in got.plates)


def test_beam_pipeline_counts_a_frame_only_the_server_cannot_decode_as_a_dead_letter(triton_service, frames,
                                                                                     tmp_path):
    """``frames_decoded`` counts frames the server really decoded: the header check passes a cut
    JPEG, the server's decode fails, and the frame is a dead letter, not a decoded frame."""
    import apache_beam as beam

    from alpr.config import load_settings
    from alpr.connectors.stores import open_store
    from alpr.pipelines.graph import run

    bad = Frame("cam-tf", "AG1", 9999, frames[0].capture_ts, _corrupt(frames[1].data))
    clip = [*frames[:3], bad]
    settings = load_settings(inference=f"triton+frames://{triton_service.grpc_url}", store=f"sqlite:{tmp_path}/a.db",
                             alerts_sink=f"jsonl:{tmp_path}/alerts.jsonl", deadletter_sink="store",
                             print_results=False, hotlist_refresh_s=0.0)

    def source(p):
        return p | beam.Create(clip) | beam.Map(lambda f: beam.window.TimestampedValue(f, f.capture_ts))

    summary = run(settings, hotlist_entries=[], frames=source)
    store = open_store(settings.store)
    try:
        dead = store.get_dead_letters()
    finally:
        store.close()
    assert summary.counters["frames_decoded"] == 3, summary.counters  # 4 frames in, one only looked like a JPEG
    assert [(d.stage, d.key) for d in dead] == [("decode", "cam-tf:9999")]
