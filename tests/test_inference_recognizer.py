"""PlateRecognizer end to end with the real ONNX models on plates drawn in the test."""

from __future__ import annotations

import numpy as np
import pytest

from alpr.inference.backends import InferenceBackend, OnnxBackend
from alpr.inference.recognizer import PlateRecognizer, RecognizedPlate
from alpr.records import Candidate
from inference_helpers import scene


class CountingBackend:
    """The real ONNX backend, counting how many network calls and images it sees."""

    def __init__(self, inner: OnnxBackend) -> None:
        self.inner = inner
        self.det_calls: list[int] = []
        self.rec_calls: list[int] = []

    @property
    def charset(self) -> list[str]:
        return self.inner.charset

    def detect(self, batch: np.ndarray) -> np.ndarray:
        self.det_calls.append(batch.shape[0])
        return self.inner.detect(batch)

    def recognize(self, batch: np.ndarray) -> np.ndarray:
        self.rec_calls.append(batch.shape[0])
        return self.inner.recognize(batch)


@pytest.fixture(scope="module")
def backend() -> OnnxBackend:
    return OnnxBackend(intra_op_threads=1)


@pytest.fixture(scope="module")
def recognizer(backend) -> PlateRecognizer:
    return PlateRecognizer(backend, topn=5)


def test_backend_contract(backend):
    assert isinstance(backend, InferenceBackend)
    assert backend.charset[0] == "<blank>" and backend.charset[-1] == " "
    assert len(backend.charset) == 6625
    det = backend.detect(np.zeros((2, 3, 64, 96), np.float32))
    assert det.shape == (2, 1, 64, 96) and det.dtype == np.float32
    rec = backend.recognize(np.zeros((3, 3, 48, 160), np.float32))
    assert rec.shape == (3, 20, 6625)
    assert np.allclose(rec.sum(axis=2), 1.0, atol=1e-3)
    with pytest.raises(ValueError, match="height 48"):
        backend.recognize(np.zeros((1, 3, 32, 160), np.float32))
    with pytest.raises(ValueError, match=r"\[N,3,H,W\]"):
        backend.detect(np.zeros((3, 64, 64), np.float32))


def test_reads_a_rendered_plate(recognizer):
    img, (x0, y0, x1, y1) = scene("7ABC123")
    plates = recognizer.recognize(img)
    assert plates, "no plate found"
    best = plates[0]
    assert isinstance(best, RecognizedPlate)
    assert best.plate == "7ABC123"
    assert 50.0 <= best.confidence <= 100.0
    assert len(best.coordinates) == 4
    h, w = img.shape[:2]
    xs = [p[0] for p in best.coordinates]
    ys = [p[1] for p in best.coordinates]
    assert all(0 <= x <= w for x in xs) and all(0 <= y <= h for y in ys)
    # the quad lies on the pasted plate
    cx, cy = sum(xs) / 4, sum(ys) / 4
    assert x0 <= cx <= x1 and y0 <= cy <= y1
    assert max(xs) - min(xs) > 0.5 * (x1 - x0)


def test_candidates_sorted_and_led_by_the_plate(recognizer):
    img, _ = scene("KZ42817", seed=3)
    best = recognizer.recognize(img)[0]
    assert best.plate == "KZ42817"
    assert all(isinstance(c, Candidate) for c in best.candidates)
    assert 1 <= len(best.candidates) <= 5
    assert best.candidates[0].plate == best.plate
    assert best.candidates[0].confidence == pytest.approx(best.confidence)
    confs = [c.confidence for c in best.candidates]
    assert confs == sorted(confs, reverse=True)
    assert len({c.plate for c in best.candidates}) == len(best.candidates)


def test_blank_image_has_no_plates(recognizer):
    assert recognizer.recognize(np.full((240, 320, 3), 128, np.uint8)) == []


def test_batch_equals_single_and_batches_the_networks(backend):
    counting = CountingBackend(backend)
    rec = PlateRecognizer(counting, topn=5)
    images = [scene(t, seed=i)[0] for i, t in enumerate(["7ABC123", "XY9034", "MK55TRD"])]
    singles = [rec.recognize(im) for im in images]
    counting.det_calls.clear()
    counting.rec_calls.clear()
    batched = rec.recognize_batch(images)
    assert batched == singles
    assert [p[0].plate for p in batched] == ["7ABC123", "XY9034", "MK55TRD"]
    assert counting.det_calls == [3]  # one detector call for three same-size frames
    assert max(counting.rec_calls) > 1


def test_plate_crop_is_read_whole(recognizer):
    from inference_helpers import plate_image

    assert recognizer.recognize(plate_image("AB123CD", width=180))[0].plate == "AB123CD"


def test_invalid_inputs_raise_value_error(recognizer):
    with pytest.raises(ValueError, match="uint8"):
        recognizer.recognize(np.zeros((100, 100, 3), np.float64))
    with pytest.raises(ValueError):
        recognizer.recognize_batch([scene("7ABC123")[0], np.zeros((100,), np.uint8)])
    assert recognizer.recognize_batch([]) == []
    with pytest.raises(ValueError, match="topn"):
        PlateRecognizer(recognizer.backend, topn=0)


def test_finer_pass_only_where_the_first_found_no_sure_plate(backend):
    """The second, finer detector pass costs a detector call only for frames without a sure
    plate; a plate crop (read whole) never gets one."""
    from inference_helpers import plate_image

    counting = CountingBackend(backend)
    rec = PlateRecognizer(counting, topn=5)
    sure, _ = scene("7ABC123", seed=5)
    blank = np.full((480, 640, 3), 120, np.uint8)
    assert rec.recognize_batch([sure, blank])[0][0].plate == "7ABC123"
    assert counting.det_calls == [2, 1]  # both frames, then the blank one again, finer
    counting.det_calls.clear()
    rec.recognize(plate_image("AB123CD", width=180))
    assert counting.det_calls == [1]
    off = CountingBackend(backend)
    PlateRecognizer(off, topn=5, fine_long_side=0).recognize(blank)
    assert off.det_calls == [1]


@pytest.mark.slow
def test_finer_pass_finds_a_small_plate_in_a_real_parking_lot_photo(shared_data, backend):
    """A 640x480 photo whose plate the 736-px detector pass does not see at all."""
    import cv2

    path = shared_data / "ucsd-stills-ca" / "imgs" / "cars065.jpg"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    img = cv2.imread(str(path))
    assert PlateRecognizer(backend, fine_long_side=0).recognize(img) == []
    assert [p.plate for p in PlateRecognizer(backend).recognize(img)] == ["4KYR003"]


def test_finer_pass_adds_no_sign_text(backend):
    """The synthetic camera's SPEED LIMIT sign is too small for the first pass and legible to the
    finer one; what the finer pass adds on its own must look like a plate, so the sign's LIMIT
    never becomes a read (frame 21: no vehicle; frame 61: a vehicle in view)."""
    from alpr.connectors.camera.synthetic import SyntheticCamera
    from alpr.inference.recognizer import decode_image

    frames = {f.seq: f for f in SyntheticCamera("c", "AGIT", n_vehicles=3, seed=21).frames() if f.seq in (21, 61)}
    rec = PlateRecognizer(backend)
    assert rec.recognize(decode_image(frames[21].data)) == []
    assert [p.plate for p in rec.recognize(decode_image(frames[61].data))] == ["S38TFR"]
