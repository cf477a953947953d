"""Engine-neutral decode, recognize and sink stages."""
import time

import cv2
import numpy as np
import pytest

from alpr.config import DAY_S
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.stores import open_store
from alpr.pipelines.core.decode import DecodedFrame, decode
from alpr.pipelines.core.recognize import BackendFactory, RecognizeStage
from alpr.pipelines.core.sinks import ttl_buckets, ttl_seconds_for, write_rows
from alpr.records import DeadLetter, Frame

from core_helpers import read


@pytest.fixture(scope="module")
def frames():
    cam = SyntheticCamera("cam-s", "AG1", n_vehicles=1, seed=3)
    return list(cam.frames())


def test_decode_good_and_bad_frames(frames):
    ok = decode(frames[5])
    assert isinstance(ok, DecodedFrame) and ok.image.shape == (720, 1280, 3) and ok.frame is frames[5]
    tiny = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes()
    for data, why in [(b"", "empty"), (b"\xff\xd8\xffgarbage", "not a supported image"), (tiny, "smaller than")]:
        dl = decode(Frame("cam-s", "AG1", 7, 1.0, data))
        assert isinstance(dl, DeadLetter) and dl.stage == "decode" and why in dl.reason
        assert dl.key == "cam-s:7" and dl.payload == data


def test_recognize_reads_a_batch(frames):
    stage = RecognizeStage("onnx", topn=5).open()
    try:
        batch = [decode(f) for f in frames if f.seq in (8, 9, 10)]
        reads, dead = stage.run(batch)
    finally:
        stage.close()
    assert dead == [] and reads
    assert {r.frame_id for r in reads} <= {d.frame.frame_id for d in batch}
    assert all(r.img_width == 1280 and r.confidence > 0 and len(r.candidates) <= 5 for r in reads)
    # the same frames give the same read ids (replays are idempotent)
    stage2 = RecognizeStage("onnx", topn=5)
    assert [r.read_id for r in stage2.run(batch)[0]] == [r.read_id for r in reads]
    stage2.close()


class _Broken:
    calls = 0
    charset = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    def detect(self, batch):
        _Broken.calls += 1
        raise ConnectionError("server gone")

    recognize = detect


def test_a_failing_batch_dead_letters_every_frame_after_retries(frames):
    _Broken.calls = 0
    stage = RecognizeStage(retries=2, backend_factory=_Broken)
    batch = [decode(f) for f in frames[:3]]
    reads, dead = stage.run(batch)
    assert reads == [] and _Broken.calls == 3
    assert [d.key for d in dead] == [f.frame_id for f in frames[:3]]
    assert all(d.stage == "inference" and "ConnectionError: server gone" in d.reason for d in dead)
    assert [d.payload for d in dead] == [f.data for f in frames[:3]]  # replayable


def test_backend_spec_is_checked():
    with pytest.raises(ValueError, match="triton://"):
        BackendFactory("tensorrt")


def test_row_ttl_counts_from_capture_time_and_never_below_the_floor():
    now = 1_800_000_000.0
    assert ttl_seconds_for(now, 730, now) == 730 * DAY_S
    assert ttl_seconds_for(now, 30, now) == 365 * DAY_S  # below the policy floor: the floor
    assert ttl_seconds_for(now - 100 * DAY_S, 365, now) == 265 * DAY_S
    assert ttl_seconds_for(now - 400 * DAY_S, 365, now) == 0
    assert ttl_seconds_for(now - 10.5, 365, now) == 365 * DAY_S  # rounded up to the minute
    buckets, expired = ttl_buckets([read("A", now), read("B", now - 400 * DAY_S)], 365, now)
    assert list(buckets) == [365 * DAY_S] and [r.plate for r in expired] == ["B"]
    per_agency, _ = ttl_buckets([read("A", now, agency="X"), read("B", now, agency="Y")], 365, now,
                                retention_for={"X": 730, "Y": 365}.get)
    assert sorted(per_agency) == [365 * DAY_S, 730 * DAY_S]


def test_write_rows_sets_each_rows_expiry_from_its_capture_time(tmp_path):
    store = open_store(f"sqlite:{tmp_path}/s.db")
    now = time.time()
    fresh, old, ancient = read("FRESH1", now, seq=1), read("OLD222", now - 200 * DAY_S, seq=2), \
        read("ANC333", now - 400 * DAY_S, seq=3)
    skipped = write_rows(store, "reads", [fresh, old, ancient], 365, "sqlite:x")
    assert skipped == 1
    assert abs(store.read_expiry(fresh.read_id) - (now + 365 * DAY_S)) < 120
    assert abs(store.read_expiry(old.read_id) - (now + 165 * DAY_S)) < 120
    assert store.read_expiry(ancient.read_id) is None
    store.close()


def test_write_rows_uses_the_agencys_retention_from_the_store(tmp_path):
    store = open_store(f"sqlite:{tmp_path}/r.db")
    store.set_agency_retention("LONG", 730)
    now = time.time()
    a, b = read("AAA111", now - 500 * DAY_S, agency="LONG", seq=1), read("BBB222", now - 500 * DAY_S, agency="X", seq=2)
    assert write_rows(store, "reads", [a, b], 365, "sqlite:x") == 1  # X keeps 365 days: past it
    assert abs(store.read_expiry(a.read_id) - (now + 230 * DAY_S)) < 120
    assert store.read_expiry(b.read_id) is None
    store.close()
