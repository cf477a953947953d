"""Recognition accuracy on real photos (skipped when ../shared/data is absent) and synthetic frames.

Levels reached (one core, default settings, 2026-12-03, with the finer second detector pass):
openalpr-eu 104/108 exact top-1 (96.3%), fastplateocr-ar 130/147 (88.4%), openalpr-us-crops
662/745 (88.9%), ucsd-stills-ca 219/243 (90.1%), synthetic 720p frames 60/60. The asserts keep a small margin below those.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from alpr.inference.recognizer import PlateRecognizer

_SPEC = importlib.util.spec_from_file_location(
    "eval_accuracy", Path(__file__).resolve().parents[1] / "benchmarks" / "eval_accuracy.py"
)
assert _SPEC and _SPEC.loader
eval_accuracy = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("eval_accuracy", eval_accuracy)
_SPEC.loader.exec_module(eval_accuracy)


@pytest.fixture(scope="module")
def recognizer() -> PlateRecognizer:
    return PlateRecognizer(topn=10)


@pytest.mark.slow
def test_openalpr_eu_top1(shared_data, recognizer):
    folder = shared_data / "openalpr-eu"
    if not folder.is_dir():
        pytest.skip(f"{folder} missing")
    res = eval_accuracy.evaluate(recognizer, eval_accuracy.load_eu(folder))
    assert res["images"] == 108
    assert res["top1_exact"] >= 0.94, res
    assert res["top1_within1"] >= 0.96, res
    assert res["topn_hit"] >= 0.97, res


@pytest.mark.slow
def test_fastplateocr_ar_top1(shared_data, recognizer):
    folder = shared_data / "fastplateocr-ar"
    if not folder.is_dir():
        pytest.skip(f"{folder} missing")
    res = eval_accuracy.evaluate(recognizer, eval_accuracy.load_ar(folder))
    assert res["images"] == 147
    assert res["top1_exact"] >= 0.86, res
    assert res["top1_within1"] >= 0.97, res


def test_synthetic_720p_frames(recognizer):
    samples = eval_accuracy.load_synthetic(8, seed=5)
    if samples is None:
        pytest.skip("alpr.connectors.camera.synthetic not available")
    res = eval_accuracy.evaluate(recognizer, samples)
    assert res["images"] >= 6
    assert res["top1_exact"] >= 0.95, res


def test_edit_distance():
    assert eval_accuracy.edit_distance("RK755AJ", "RK755AJ") == 0
    assert eval_accuracy.edit_distance("RK755AJ", "755AJ") == 2
    assert eval_accuracy.edit_distance("AB123", "A8123") == 1


@pytest.mark.slow
def test_openalpr_us_crops_top1(shared_data, recognizer):
    """All 745: 662 (88.9%) exact top-1 (``make eval``): state formats as priors, stacked codes and
    emblems kept out of the plate, blue plates not taken for EU bands (baseline 510/745). The
    suite reads every other crop (the odd half: 327/372, 87.9%; the even half 335/373, 89.8%),
    which keeps the guard and halves its 170 s."""
    folder = shared_data / "openalpr-us-crops"
    if not folder.is_dir():
        pytest.skip(f"{folder} missing")
    res = eval_accuracy.evaluate(recognizer, eval_accuracy.subset(eval_accuracy.load_csv(folder), "odd", None))
    assert res["images"] == 372
    assert res["top1_exact"] >= 0.86, res
    assert res["top1_within1"] >= 0.94, res


@pytest.mark.slow
def test_ucsd_stills_whole_cars_top1(shared_data, recognizer):
    """Whole cars in parking lots: reached 219/243 (90.1%) exact top-1 (baseline 160/243)."""
    folder = shared_data / "ucsd-stills-ca"
    if not folder.is_dir():
        pytest.skip(f"{folder} missing")
    res = eval_accuracy.evaluate(recognizer, eval_accuracy.load_csv(folder))
    assert res["images"] == 243
    assert res["top1_exact"] >= 0.87, res
    assert res["state_right"] >= 0.80, res
