"""Encoded frames in, plates out, without a server: the plate_read JSON contract round-trips the
in-process recogniser's plates exactly, a corrupt frame is an error for that frame only, the
recognize stage on ``triton+frames://`` dead-letters per frame, and an unreachable server is
InferenceUnavailable then dead letters (the service-backed half: test_services_triton_frames.py)."""

from __future__ import annotations

import socket

import pytest

from alpr.config import ConfigError, load_settings
from alpr.inference.backends import OnnxBackend
from alpr.inference.frame_reads import FrameRecognizer, LocalFrameRecognizer, parse_frame_result, result_json
from alpr.inference.recognizer import PlateRecognizer, decode_image
from alpr.pipelines.core.decode import DecodedFrame
from alpr.pipelines.core.recognize import RecognizeStage
from alpr.records import Frame

pytest.importorskip("tritonclient.grpc")


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def frames():
    from alpr.connectors.camera.synthetic import SyntheticCamera

    cam = SyntheticCamera("cam-tf", "AG1", n_vehicles=1, seed=3)
    return [cam.frame(s) for s in (8, 10, 12)]


@pytest.fixture(scope="module")
def recognizer():
    return PlateRecognizer(OnnxBackend(intra_op_threads=1), topn=5)


def test_json_contract_round_trips_the_plates_exactly(frames, recognizer):
    local = LocalFrameRecognizer(recognizer)
    assert isinstance(local, FrameRecognizer)
    bad = frames[0].data[:700] + b"\x00" * 300
    got = local.read_frames([frames[0].data, bad, frames[1].data])
    want = recognizer.recognize_batch([decode_image(frames[0].data), decode_image(frames[1].data)])
    assert local.calls == [3]
    assert got[0].plates == tuple(want[0]) and got[2].plates == tuple(want[1]) and want[0]
    assert (got[0].width, got[0].height) == (1280, 720)
    assert not got[1].ok and got[1].error_stage == "decode" and "cannot decode" in got[1].error
    assert parse_frame_result(result_json(want[0], 10, 20)).plates == tuple(want[0])
    with pytest.raises(ValueError):
        parse_frame_result(b'{"plates": 3}')


def test_stage_dead_letters_a_bad_frame_and_reads_the_others(frames, recognizer):
    stage = RecognizeStage("triton+frames://127.0.0.1:1", topn=5)
    stage._recognizer = LocalFrameRecognizer(recognizer)  # the server's code, in process
    bad = Frame("cam-tf", "AG1", 99, 1.0, b"\xff\xd8\xffgarbage")
    batch = [stage.decode(f) for f in (frames[0], bad, frames[2])]
    assert all(isinstance(d, DecodedFrame) and d.image is None for d in batch)
    reads, dead = stage.run(batch)
    assert [d.key for d in dead] == ["cam-tf:99"] and dead[0].stage == "decode" and dead[0].payload == bad.data
    want, _ = RecognizeStage("onnx", topn=5).run([RecognizeStage("onnx").decode(f) for f in (frames[0], frames[2])])
    assert [(r.read_id, r.plate, r.confidence, r.img_width) for r in reads] == \
        [(r.read_id, r.plate, r.confidence, r.img_width) for r in want]
    assert stage.decode(Frame("cam-tf", "AG1", 5, 1.0, b"")).stage == "decode"  # empty: refused here


def test_unreachable_server_dead_letters_the_batch_as_inference(frames):
    stage = RecognizeStage(f"triton+frames://127.0.0.1:{_closed_port()}", retries=0)
    stage.open()
    stage._recognizer.rpc.retries, stage._recognizer.rpc.backoff_s = 1, 0.05
    try:
        reads, dead = stage.run([stage.decode(f) for f in frames[:2]])
    finally:
        stage.close()
    assert reads == [] and [d.stage for d in dead] == ["inference", "inference"]
    assert "InferenceUnavailable" in dead[0].reason


def test_stage_passes_the_recogniser_settings_to_the_server():
    stage = RecognizeStage("triton+frames://127.0.0.1:1", topn=3, country="us", state="ca", fine_long_side=0).open()
    try:
        assert stage._recognizer.params == {"topn": 3, "country": "us", "state": "CA", "fine_long_side": 0}
    finally:
        stage.close()


def test_settings_accept_the_frames_scheme():
    assert load_settings(env={"ALPR_INFERENCE": "triton+frames://127.0.0.1:18111"}).inference.startswith("triton+")
    with pytest.raises(ConfigError, match="triton\\+frames://"):
        load_settings(env={"ALPR_INFERENCE": "triton+tensors://127.0.0.1:18111"})
