"""Run every benchmark with small default sizes, collect each one's last JSON line, print a
summary table and write ``benchmarks/results/latest.json`` (+ ``latest.md``).

Usage::

    .venv/bin/python benchmarks/run_all.py                 # what `make bench` runs (no services)
    .venv/bin/python benchmarks/run_all.py --services      # also Kafka, Cassandra, Triton benchmarks
    .venv/bin/python benchmarks/run_all.py --only recognizer,pipeline --tiny

Benchmarks that need services are skipped unless ``--services`` is given; then this script
takes the machine-wide services lock (``/tmp/alpr-services.lock``, the same lock as
``flock /tmp/alpr-services.lock ...``), starts Kafka, Cassandra and tritonserver with
``infra/services.sh up`` on free ports in a private run directory, runs them, and stops
everything again before releasing the lock. Each benchmark's own figures sit next to its
baseline measured in the same run (see each script's docstring); the table shows them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import last_json_line, machine, running_services, services_lock  # noqa: E402

RESULTS = HERE / "results"


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    args: tuple[str, ...]                 # default (small) sizes
    tiny: tuple[str, ...]                 # smoke-test sizes
    services: tuple[str, ...] = ()        # required services
    optional_services: tuple[str, ...] = ()  # used when --services is on
    full: str = ""                        # the documented full-size command

    def command(self, tiny: bool, endpoint_args: list[str]) -> list[str]:
        return [sys.executable, str(HERE / self.script), *(self.tiny if tiny else self.args), *endpoint_args]


BENCHES = [
    Bench("recognizer", "bench_recognizer.py", ("--frames", "12"), ("--frames", "2"),
          full="bench_recognizer.py --frames 50"),
    Bench("batching", "bench_batching.py", ("--frames", "64", "--batch-sizes", "1,4,16,64"),
          ("--frames", "2", "--batch-sizes", "1,2"), optional_services=("triton",),
          full="bench_batching.py --frames 128 --batch-sizes 1,4,16,64 [--triton H:P --triton-pid-file F]"),
    Bench("pipeline", "bench_pipeline.py", ("--frames", "40"), ("--frames", "3", "--hotlist", "100"),
          full="bench_pipeline.py --frames 200"),
    Bench("matcher", "bench_matcher.py",
          ("--entries", "200000", "--reads", "50000", "--latency-sample", "20000", "--brute", "50"),
          ("--entries", "2000", "--reads", "2000", "--latency-sample", "500", "--brute", "5"),
          full="bench_matcher.py --entries 1000000 --reads 200000"),
    Bench("cassandra", "bench_cassandra.py", ("--reads", "3000", "--rounds", "5"),
          ("--reads", "160", "--rounds", "1", "--sweep", "16,64", "--sweep-reads", "160", "--out", ""),
          services=("cassandra",), full="bench_cassandra.py --compare-sequential"),
    Bench("kafka", "bench_kafka.py", ("--frames", "300", "--small", "20000"),
          ("--frames", "10", "--small", "200", "--rounds", "1"), services=("kafka",),
          full="bench_kafka.py --frames 1000 --small 100000 --rounds 3"),
    Bench("e2e_latency", "bench_e2e_latency.py", ("--vehicles", "2", "--fps", "4"),
          ("--vehicles", "1", "--fps", "5"), services=("kafka", "cassandra"),
          full="bench_e2e_latency.py --vehicles 10 --fps 4"),
    Bench("e2e_latency_triton", "bench_e2e_latency.py",
          ("--vehicles", "2", "--fps", "4", "--inference", "triton", "--modes", "loop"),
          ("--vehicles", "1", "--fps", "5", "--inference", "triton", "--modes", "loop"),
          services=("kafka", "cassandra", "triton"),
          full="bench_e2e_latency.py --vehicles 10 --fps 4 --inference triton --triton H:P"),
    Bench("triton_wire", "bench_triton_wire.py", ("--frames", "16", "--batch", "8"), ("--frames", "2", "--batch", "2"),
          services=("triton",), full="bench_triton_wire.py --frames 16 --batch 8 [--triton H:P --triton-pid-file F]"),
]


# --------------------------------------------------------------------------- summary rows
def _r(x, d=2):
    return None if x is None else round(x, d)


def rows_for(name: str, r: dict) -> list[dict]:
    """Headline figures: (figure, value, baseline, ratio, target)."""
    out: list[dict] = []

    def row(figure, value, baseline=None, rat=None, target=None, unit=""):
        out.append({"bench": name, "figure": figure, "value": value, "baseline": baseline,
                    "ratio": rat, "target": target, "unit": unit})

    if name == "recognizer":
        for res, v in r.get("results", {}).items():
            row(f"recognizer {res} frames/s per core (1 thread)", v["fps_per_core"],
                f"bare ORT {v['bare_ort_fps_per_core']}", _r(v["fps_per_core"] / v["bare_ort_fps_per_core"], 3),
                ">= 10" if res == "720p" else None)
            row(f"recognizer {res} frames/s wall", v["fps_wall"], f"bare ORT {v['bare_ort_fps_wall']}",
                _r(v["fps_wall"] / v["bare_ort_fps_wall"], 3))
    elif name == "batching":
        for v in r.get("inprocess", []):
            row(f"in-process batch {v['batch']} frames/s per core", v["fps_per_core"], "batch 1",
                v["speedup_vs_batch1_per_core"])
        for v in r.get("triton") or []:
            row(f"Triton batch {v['batch']} frames/s wall", v["fps_wall"], "in-process same batch",
                v["vs_inprocess_same_batch_wall"])
            if v.get("vs_inprocess_same_batch_per_core") is not None:
                row(f"Triton batch {v['batch']} frames/s per core (client+server CPU)", v["fps_per_core"],
                    "in-process same batch", v["vs_inprocess_same_batch_per_core"])
        if not r.get("triton"):
            row("Triton batching", "not measured", None, None, None,
                r.get("triton_note", "").replace("not measured: ", ""))
    elif name == "pipeline":
        n = r["frames"]
        p, b = r["runs"][f"pipeline-{n}"], r["runs"][f"bare-{n}"]
        row(f"DirectRunner pipeline, {n} frames, CPU s", p["cpu_s"], f"bare loop {b['cpu_s']}",
            _r(p["cpu_s"] / b["cpu_s"], 3), "overhead <= 15%")
        row(f"DirectRunner overhead (CPU), {n} frames", f"{100 * r['overhead_cpu']:+.1f}%",
            f"vs bare+sinks {100 * r['overhead_vs_bare_sinks_cpu']:+.1f}%", None, "<= 15%")
        row("DirectRunner fixed cost per run (1 frame, wall s)", r["fixed_cost_pipeline_wall_s"],
            f"bare {r['fixed_cost_bare_wall_s']}", _r(r["fixed_cost_pipeline_wall_s"] / r["fixed_cost_bare_wall_s"], 3))
        row("DirectRunner marginal CPU ms/frame", r["marginal_ms_per_frame_pipeline_cpu"],
            f"bare {r['marginal_ms_per_frame_bare_cpu']}",
            None if r["marginal_overhead_cpu"] is None else _r(1 + r["marginal_overhead_cpu"], 3))
        row("Flink job overhead", "not measured", None, None, None, r.get("flink", "").replace("not measured: ", ""))
    elif name == "matcher":
        row(f"hotlist match/s per core ({r['entries']} entries)", r["match_per_s_core"],
            f"rapidfuzz brute {r['brute_rapidfuzz_per_s_core']}", r["speedup_vs_brute"], ">= 200000")
        row("hotlist match p99 (us)", r["match_p99_us"], None, None, "<= 50")
    elif name == "cassandra":
        row(f"Cassandra rows/s, the job's reads writer, {r['procs']} processes (node CPU share {r['node_cpu_share']})",
            r["rows_per_s"], f"execute_concurrent_with_args c={r['best_concurrency']} {r['baseline_rows_per_s']}",
            r["ratio_vs_baseline"], ">= 0.8x")
    elif name == "kafka":
        row(f"Kafka frames/s, one producer (~{r['frame_bytes_avg'] // 1000} KB, acks=all+idempotent)",
            r["frames_per_s"], f"acks=1 {r['baseline_frames_per_s']}", r["frames_ratio_vs_baseline"])
        row(f"Kafka small msgs/s ({r['small_bytes']} B alert JSON, acks=all+idempotent)", r["small_per_s"],
            f"acks=1 {r['baseline_small_per_s']}", r["small_ratio_vs_baseline"])
    elif name == "triton_wire":
        t, f = r["tensors"], r["frames_path"]
        row(f"Triton bytes on the wire per frame, encoded frames (plate_read, {r['resolution']}, batch {r['batch']})",
            f["bytes_per_frame"], f"float tensors {t['bytes_per_frame']}", _r(t["bytes_per_frame"] / f["bytes_per_frame"], 1),
            None, "B; ratio = tensors / frames")
    elif name.startswith("e2e_latency"):
        tag = "Triton" if r.get("inference") == "triton" else "in-process ONNX"
        for mode in ("loop", "snapshot"):
            m = r.get(mode)
            if not m:
                continue
            fh = m["first_hit"]
            label = "per-frame loop" if mode == "loop" else "DirectRunner snapshots"
            row(f"e2e first confident hit p50 ms ({label}, {tag})", fh.get("p50_ms"), None, None, None)
            row(f"e2e first confident hit p99 ms ({label}, {tag})", fh.get("p99_ms"), None, None, "<= 250",
                f"n={fh.get('n')} vehicles")
    return out


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"Machine: {meta['cores']} cores (shared, noisy), load {meta['loadavg_1m']}, {meta['date']}", "",
             "| figure | value | baseline (same run) | ratio | target |", "|---|---|---|---|---|"]
    for r in rows:
        note = f" ({r['unit']})" if r.get("unit") else ""
        lines.append(f"| {r['figure']} | {r['value']}{note} | {r['baseline'] or ''} | "
                     f"{'' if r['ratio'] is None else r['ratio']} | {r['target'] or ''} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- running
def run_one(b: Bench, tiny: bool, endpoint_args: list[str], timeout_s: float, log: Callable,
            quiet: bool = False) -> dict:
    cmd = b.command(tiny, endpoint_args)
    shown = " ".join(["python", f"benchmarks/{b.script}", *cmd[2:]])
    log(f"== {b.name}: {shown}")
    t0 = time.time()
    env = dict(os.environ, PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        # stdout is collected (last line = the JSON result); stderr (progress, warnings) passes through
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE if quiet else None, text=True,
                              timeout=timeout_s, env=env, cwd=str(HERE.parent))
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "command": shown, "seconds": round(time.time() - t0, 1)}
    entry: dict = {"command": shown, "seconds": round(time.time() - t0, 1), "returncode": proc.returncode}
    if proc.returncode != 0:
        err = proc.stderr or ""
        entry.update(status="failed", stderr_tail=err[-2000:], stdout_tail=proc.stdout[-2000:])
        log(f"   FAILED (rc={proc.returncode}){': ' + err.strip().splitlines()[-1] if err.strip() else ''}")
        return entry
    try:
        entry["result"] = last_json_line(proc.stdout)
        entry["status"] = "ok"
    except ValueError as exc:
        entry.update(status="failed", error=str(exc), stdout_tail=proc.stdout[-2000:])
    for line in proc.stdout.strip().splitlines()[:-1][-8:]:
        log(f"   {line[:200]}")
    return entry


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", action="store_true", help="also run the Kafka/Cassandra/Triton benchmarks")
    ap.add_argument("--only", default="", help="comma-separated benchmark names: " + ",".join(b.name for b in BENCHES))
    ap.add_argument("--tiny", action="store_true", help="smoke-test sizes (plumbing only, figures meaningless)")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per benchmark")
    a = ap.parse_args(argv)
    only = {x.strip() for x in a.only.split(",") if x.strip()}
    unknown = only - {b.name for b in BENCHES}
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    chosen = [b for b in BENCHES if not only or b.name in only]

    def log(msg: str) -> None:
        print(msg, flush=True)

    from alpr.app.progress import Progress

    results: dict[str, dict] = {}
    local = [b for b in chosen if not b.services and not (a.services and b.optional_services)]
    with_services = [b for b in chosen if b.services or (a.services and b.optional_services)]
    # one progress line per finished benchmark (count, elapsed, ETA from the mean so far)
    bar = Progress("benchmarks", total=len(local) + (len(with_services) if a.services else 0), every_s=0.0)
    bar.__enter__()
    for b in local:
        results[b.name] = run_one(b, a.tiny, [], a.timeout, log)
        bar.advance()
    if with_services and not a.services:
        for b in with_services:
            results[b.name] = {"status": "skipped", "reason": f"needs {', '.join(b.services)}: run with --services",
                               "command": f"python benchmarks/{b.full}"}
            log(f"== {b.name}: skipped (needs {', '.join(b.services)}; use --services)")
    elif with_services:
        needed = [s for s in ("kafka", "cassandra", "triton")
                  if any(s in b.services + b.optional_services for b in with_services)]
        log(f"== services: waiting for the services lock, then starting {', '.join(needed)}")
        with services_lock(), tempfile.TemporaryDirectory(prefix="alpr-bench-svc-") as run_dir:
            try:
                with running_services(needed, Path(run_dir), log=log) as ep:
                    for b in with_services:
                        svc = b.services + b.optional_services
                        results[b.name] = run_one(b, a.tiny, ep.args(svc), a.timeout, log)
                        bar.advance()
            except RuntimeError as exc:  # a service did not start: report, keep the rest
                log(f"== services failed: {exc}")
                for b in with_services:
                    results.setdefault(b.name, {"status": "failed", "error": f"services: {exc}"[:2000]})

    bar.__exit__(None, None, None)
    meta = machine()
    rows: list[dict] = []
    for name, entry in results.items():
        if entry.get("status") == "ok":
            try:
                rows += rows_for(name, entry["result"])
            except (KeyError, TypeError, ZeroDivisionError) as exc:
                rows.append({"bench": name, "figure": f"{name}: summary failed ({exc})", "value": None,
                             "baseline": None, "ratio": None, "target": None, "unit": ""})
        else:
            rows.append({"bench": name, "figure": name, "value": entry.get("status"), "baseline": None,
                         "ratio": None, "target": None, "unit": entry.get("reason", "")})
    md = markdown(rows, meta)
    print("\n" + md)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"machine": meta, "tiny": a.tiny, "services": a.services, "rows": rows,
                                 "benchmarks": results}, indent=1, default=str))
    a.out.with_suffix(".md").write_text(md)
    print(f"wrote {a.out} and {a.out.with_suffix('.md')}")
    from plots import try_plots  # PNGs beside the JSON: ratios to baselines, latency distributions

    try_plots(a.out)
    failed = [n for n, e in results.items() if e.get("status") in ("failed", "timeout")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
