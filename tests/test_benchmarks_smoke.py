"""Smoke test of the benchmark plumbing: run_all on tiny sizes for the non-service benchmarks,
the last-JSON-line protocol, the summary table and the results file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402
import run_all  # noqa: E402


def test_last_json_line_picks_the_last_object_and_rejects_none():
    text = 'progress 1\n{"benchmark": "a", "x": 1}\nnoise\n{"benchmark": "b", "x": 2}\n'
    assert benchlib.last_json_line(text) == {"benchmark": "b", "x": 2}
    with pytest.raises(ValueError):
        benchlib.last_json_line("no json here\n[1, 2]\n")


def test_percentile_nearest_rank():
    xs = list(range(1, 101))
    assert benchlib.percentile(xs, 50) == 50
    assert benchlib.percentile(xs, 99) == 99
    assert benchlib.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        benchlib.percentile([], 50)


def test_run_all_tiny_non_service_benchmarks(tmp_path):
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--tiny", "--only", "recognizer,pipeline,matcher,kafka",
         "--out", str(out)],
        capture_output=True, text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    res = data["benchmarks"]
    assert set(res) == {"recognizer", "pipeline", "matcher", "kafka"}
    # the service benchmark is skipped without --services, with the documented command
    assert res["kafka"]["status"] == "skipped" and "bench_kafka.py" in res["kafka"]["command"]

    rec = res["recognizer"]["result"]
    assert rec["benchmark"] == "bench_recognizer"
    for size in ("720p", "1080p"):
        r = rec["results"][size]
        assert r["frames"] == 2 and r["fps_per_core"] > 0 and r["bare_ort_fps_per_core"] > 0
        assert r["fps_per_core"] == pytest.approx(1000 / r["recognizer_cpu_ms"], rel=0.02)

    pipe = res["pipeline"]["result"]
    assert pipe["benchmark"] == "bench_pipeline" and pipe["frames"] == 3
    assert {"pipeline-3", "bare-3", "bare_sinks-3", "pipeline-1", "bare-1"} <= set(pipe["runs"])
    assert pipe["overhead_cpu"] == pytest.approx(
        pipe["runs"]["pipeline-3"]["cpu_s"] / pipe["runs"]["bare-3"]["cpu_s"] - 1, abs=0.002)
    assert pipe["same_results"] is True  # the pipeline and the bare loop read the same plates
    assert "not measured" in pipe["flink"]

    m = res["matcher"]["result"]
    assert m["benchmark"] == "bench_matcher" and m["entries"] == 2000
    assert m["match_per_s_core"] > 0 and m["brute_rapidfuzz_per_s_core"] > 0

    for r in (rec, pipe, m):
        assert r.get("machine", {}).get("cores", 1) >= 1 or "loadavg_1m" in r
    # summary rows: every benchmark contributes rows with the table's keys
    keys = {"bench", "figure", "value", "baseline", "ratio", "target", "unit"}
    assert data["rows"] and all(set(row) == keys for row in data["rows"])
    assert {row["bench"] for row in data["rows"]} == {"recognizer", "pipeline", "matcher", "kafka"}
    md = out.with_suffix(".md").read_text()
    assert md.count("\n| ") == len(data["rows"]) + 1  # header + one line per row


def test_rows_for_service_results_are_summarised():
    kafka = {"frame_bytes_avg": 101_000, "frames_per_s": 300.0, "baseline_frames_per_s": 330.0,
             "frames_ratio_vs_baseline": 0.909, "small_bytes": 512, "small_per_s": 50_000,
             "baseline_small_per_s": 60_000, "small_ratio_vs_baseline": 0.833}
    rows = run_all.rows_for("kafka", kafka)
    assert [r["ratio"] for r in rows] == [0.909, 0.833]
    cass = {"rows_per_s": 9000, "baseline_rows_per_s": 10000, "ratio_vs_baseline": 0.9, "procs": 2,
            "best_concurrency": 64, "node_cpu_share": 0.5}
    (row,) = run_all.rows_for("cassandra", cass)
    assert row["value"] == 9000 and row["target"] == ">= 0.8x" and row["ratio"] == 0.9
    assert "c=64 10000" in row["baseline"]
