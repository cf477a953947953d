"""Motion gating: a still road skips detection, a vehicle entering opens the gate."""

from __future__ import annotations

import numpy as np
import pytest

from alpr.inference.motion import MotionGate


def _road(seed: int, brightness: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.full((360, 640, 3), 100 + brightness, np.int16)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)  # sensor noise


def test_still_road_skips_and_a_vehicle_opens_the_gate():
    gate = MotionGate(hold=1)
    assert gate.passes(_road(0))  # no background yet
    # noise and a global exposure change are not motion
    assert [gate.passes(_road(s, brightness=6 * (s % 2))) for s in range(1, 8)] == [False] * 7
    car = _road(9)
    car[200:330, 100:400] = (30, 30, 160)
    assert gate.passes(car)
    empty_after = [gate.passes(_road(s)) for s in range(10, 14)]
    assert empty_after[0] is True  # held open one more frame
    assert empty_after[-1] is False
    assert gate.stats.frames == 13 and gate.stats.skipped == gate.stats.frames - gate.stats.passed


def test_change_outside_the_road_area_is_ignored():
    gate = MotionGate(roi=(0.0, 0.5, 1.0, 1.0), hold=0)
    gate.passes(_road(0))
    sky = _road(1)
    sky[10:120, 50:500] = 250  # a bird, a sign lighting up: above the road area
    assert not gate.passes(sky)


def test_bad_roi_is_refused():
    with pytest.raises(ValueError):
        MotionGate(roi=(0.5, 0.2, 0.4, 1.0))
