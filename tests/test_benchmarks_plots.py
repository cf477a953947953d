"""PNG plots beside the eval/benchmark JSON (benchmarks/plots.py), drawn from real result shapes."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

pytest.importorskip("matplotlib")
BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import plots  # noqa: E402


def _png(path: Path):
    img = cv2.imread(str(path))
    assert img is not None, f"{path} is not an image"
    return img


def test_eval_plot_per_set_and_per_state(tmp_path):
    doc = {"benchmark": "eval_accuracy", "sets": {
        "eu": {"images": 108, "top1_exact": 0.963, "top1_within1": 0.982, "topn_hit": 0.991},
        "stills": {"images": 243, "top1_exact": 0.658, "top1_within1": 0.8, "topn_hit": 0.85,
                   "per_state": {"CA": {"images": 237, "top1_exact": 0.66}, "NY": {"images": 1, "top1_exact": 0.0}}},
        "empty": {"images": 0}}}
    f = tmp_path / "eval_accuracy.json"
    f.write_text(json.dumps(doc))
    (png,) = plots.plots_for(f)
    assert png == tmp_path / "eval_accuracy.png"
    wide = _png(png)
    del doc["sets"]["stills"]["per_state"]
    f.write_text(json.dumps(doc))
    narrow = _png(plots.plots_for(f)[0])
    assert wide.shape[1] > narrow.shape[1]  # the per-state panel is there only when states are


def test_bench_plots_ratios_and_latency_from_run_all_shape(tmp_path):
    doc = {"rows": [
        {"bench": "recognizer", "figure": "recognizer 720p frames/s per core", "value": 8.8, "ratio": 1.04},
        {"bench": "batching", "figure": "batch 64 vs 1", "value": 0.73, "ratio": 0.73},
        {"bench": "pipeline", "figure": "not measured", "value": None, "ratio": None}],
        "benchmarks": {"e2e": {"result": {"loop": {
            "first_hit": {"n": 2, "p50_ms": 143.8, "p99_ms": 215.7, "min_ms": 140, "max_ms": 215.7},
            "per_vehicle": [{"p50_ms": 1, "p99_ms": 2}]}}}}}
    f = tmp_path / "latest.json"
    f.write_text(json.dumps(doc))
    p = subprocess.run([sys.executable, str(BENCH / "plots.py"), str(f)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    ratios, latency = tmp_path / "latest-ratios.png", tmp_path / "latest-latency.png"
    assert f"plot: {ratios}" in p.stdout and f"plot: {latency}" in p.stdout
    assert _png(ratios).shape[0] > 100 and _png(latency).shape[0] > 100
    assert [n for n, _ in plots._latencies(doc["benchmarks"])] == ["e2e/result/loop/first_hit"]


def test_bench_plots_nothing_to_draw_writes_nothing(tmp_path):
    assert plots.bench_plots({"rows": [], "benchmarks": {}}, tmp_path / "x") == []
    assert list(tmp_path.iterdir()) == []
