"""Synthetic frames stay legible: the project's plate recogniser reads most of them.

Skips when the recogniser or its ONNX models are not available.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from alpr.connectors.camera.synthetic import SyntheticCamera

recognizer = pytest.importorskip("alpr.inference.recognizer")


@pytest.fixture(scope="module")
def reader():
    try:
        return recognizer.PlateRecognizer()
    except Exception as exc:  # models not bundled in this checkout
        pytest.skip(f"plate recogniser unavailable: {exc}")


def test_recognizer_reads_most_synthetic_plates(reader):
    cam = SyntheticCamera("c", "a", n_vehicles=4, seed=21, states=["CA", "TX", "FL", "IL"])
    by_vehicle = defaultdict(list)
    for t in cam.ground_truth():
        by_vehicle[t.vehicle_id].append(t)
    sample = [ts[len(ts) // 3] for ts in by_vehicle.values()] + [ts[2 * len(ts) // 3] for ts in by_vehicle.values()]
    hits = 0
    for t in sample:
        found = reader.recognize(recognizer.decode_image(cam.frame(t.seq).data))
        hits += bool(found) and found[0].plate == t.plate
    assert hits >= len(sample) - 1, f"read {hits}/{len(sample)} synthetic plates"
