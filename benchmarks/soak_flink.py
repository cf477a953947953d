"""Soak of the PyFlink job on the real cluster (issue 13, item 8): ``make soak SOAK_RUNNER=flink``.

Usage (starts Kafka, Cassandra and Flink itself, on free ports, through the test fixtures of
tests/services.py; takes the services lock)::

    .venv/bin/python benchmarks/soak_flink.py --minutes 30 [--cameras 2] [--fps 1]
        [--width 1280 --height 720] [--warmup-min 5] [--sample-s 10]

One job (``alpr run --runner flink``: parallelism 2 on two TaskManagers, in-process ONNX,
Cassandra store, RocksDB state, checkpoints every 2 s) runs under a steady synthetic load:
``--cameras`` synthetic cameras, each at ``--fps`` in real time (``capture_ts`` = publish time),
round after round of new vehicles with gaps between them. Before each round, half of its plates
are published to the job's hotlist topic (live hotlist changes under load). A sampler records,
every ``--sample-s``: the resident memory of the TaskManager JVMs and of the Python workers they
start (their process trees, from /proc), the Kafka lag of the job's consumer group (committed
on checkpoints) and the job's ``frames_in``.

At the end the load stops, the job drains, and the verdicts are:

* **lost frames** = frames published - the job's ``frames_in`` (after the drain): must be 0;
* **memory flat**: for the TaskManagers and for the Python workers, the median of the last
  fifth of the samples after ``--warmup-min`` against the median of the first fifth: at most
  ``--max-growth-pct`` (10) % more;
* **lag bounded**: the largest lag after warm-up at most ``--max-lag-s`` seconds of input,
  and 0 after the drain.

Writes ``benchmarks/results/soak-flink.json`` and ``soak-flink.png`` (memory and lag over
time); the last line is JSON; exit code 1 when a verdict fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ARGS_ENV = "SOAK_FLINK_ARGS"


def parse(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--fps", type=float, default=1.0, help="frames/s of each camera")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--vehicles", type=int, default=4, help="vehicles per camera per round")
    ap.add_argument("--gap-s", type=float, default=6.0, help="seconds between vehicles")
    ap.add_argument("--warmup-min", type=float, default=5.0)
    ap.add_argument("--sample-s", type=float, default=10.0)
    ap.add_argument("--max-growth-pct", type=float, default=10.0)
    ap.add_argument("--max-lag-s", type=float, default=60.0)
    ap.add_argument("--drain-s", type=float, default=300.0, help="longest wait for the backlog after the load")
    ap.add_argument("--out", default=str(HERE / "results" / "soak-flink.json"))
    return ap.parse_args(argv)


# --------------------------------------------------------------------------- /proc
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(d))
    return kids


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def tree_rss(roots: list[int]) -> tuple[float, float, int]:
    """(MB of the root JVMs, MB of every process below them, count of those processes)."""
    kids, below = _children(), []
    todo = [k for r in roots for k in kids.get(r, [])]
    while todo:
        p = todo.pop()
        below.append(p)
        todo.extend(kids.get(p, []))
    return sum(_rss_mb(r) for r in roots), sum(_rss_mb(p) for p in below), len(below)


# --------------------------------------------------------------------------- load and sampling
class Load(threading.Thread):
    """Round after round of synthetic cameras in real time; half of each round's plates go to
    the hotlist topic first."""

    def __init__(self, a, topics: dict, bootstrap: str):
        super().__init__(daemon=True, name="soak-load")
        from alpr.connectors.kafka import CameraGateway

        self.a, self.topics, self.bootstrap = a, topics, bootstrap
        self.gw = CameraGateway(bootstrap, topics["frames"])
        self.published = self.rounds = self.hot_entries = 0
        self.stop = threading.Event()

    def run(self) -> None:
        from alpr.connectors.camera.synthetic import SyntheticCamera
        from alpr.connectors.kafka import frame_headers
        from flink_helpers import hit_entries, publish_hotlist

        a, t0, tick = self.a, time.time(), 0
        while not self.stop.is_set():
            cams = [SyntheticCamera(f"soak-{c}", "BENCH", n_vehicles=a.vehicles, seed=1000 * self.rounds + c, fps=a.fps,
                                    width=a.width, height=a.height, gap_s=a.gap_s) for c in range(a.cameras)]
            plates = [v.plate for cam in cams for v in cam.vehicles][::2]
            publish_hotlist(self.bootstrap, self.topics["hotlist"], hit_entries(plates, agency="BENCH"))
            self.hot_entries += len(plates)
            for frames in zip(*(cam.frames() for cam in cams)):
                if self.stop.is_set():
                    break
                delay = t0 + tick / a.fps - time.time()
                if delay > 0:
                    time.sleep(delay)
                tick += 1
                for f in frames:
                    frame = dataclasses.replace(f, capture_ts=time.time())
                    self.gw.publish_raw(frame.camera_id, frame.data, frame_headers(frame))
                    self.published += 1
            self.gw.flush()
            self.rounds += 1
        self.gw.flush()


class Sampler(threading.Thread):
    def __init__(self, every_s: float, flink_service, job, kafka_cfg, load: Load):
        super().__init__(daemon=True, name="soak-sampler")
        self.every_s, self.flink, self.job, self.kafka, self.load = every_s, flink_service, job, kafka_cfg, load
        self.samples: list[dict] = []
        self.halt = threading.Event()

    def sample(self, t0: float) -> dict:
        from soak import kafka_lag

        tm, workers, n = tree_rss(self.flink.taskmanager_pids())
        return {"t_s": round(time.time() - t0, 1), "taskmanagers_mb": round(tm, 1), "python_workers_mb": round(workers, 1),
                "worker_processes": n, "lag": kafka_lag(self.kafka), "published": self.load.published,
                "frames_in": int(self.job.metric("parse-frames", "frames_in"))}

    def run(self) -> None:
        t0 = time.time()
        while not self.halt.is_set():
            try:
                self.samples.append(self.sample(t0))
                s = self.samples[-1]
                print(f"soak t={s['t_s']:7.0f}s tm={s['taskmanagers_mb']:.0f}MB workers={s['python_workers_mb']:.0f}MB "
                      f"({s['worker_processes']}) lag={s['lag']} in={s['frames_in']}/{s['published']}", flush=True)
            except Exception as exc:  # a REST or Kafka hiccup: keep sampling
                print(f"soak: sample failed: {exc}", flush=True)
            self.halt.wait(self.every_s)


# --------------------------------------------------------------------------- verdicts
def growth_pct(values: list[float]) -> float:
    """Median of the last fifth against the median of the first fifth, in %."""
    k = max(1, len(values) // 5)
    first, last = statistics.median(values[:k]), statistics.median(values[-k:])
    return round(100.0 * (last - first) / first, 1) if first else 0.0


def verdicts(a, samples: list[dict], published: int, frames_in: int, final_lag: int) -> dict:
    warm = [s for s in samples if s["t_s"] >= a.warmup_min * 60] or samples
    tm = growth_pct([s["taskmanagers_mb"] for s in warm])
    py = growth_pct([s["python_workers_mb"] for s in warm])
    max_lag = max((s["lag"] for s in warm), default=0)
    lag_bound = int(a.max_lag_s * a.fps * a.cameras)
    return {"lost_frames": published - frames_in, "taskmanagers_growth_pct": tm, "python_workers_growth_pct": py,
            "max_lag_after_warmup": max_lag, "lag_bound": lag_bound, "final_lag": final_lag,
            "memory_flat": tm <= a.max_growth_pct and py <= a.max_growth_pct,
            "lag_bounded": max_lag <= lag_bound and final_lag == 0, "no_loss": published == frames_in}


def plot(samples: list[dict], path: Path, warmup_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60 for s in samples]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    ax1.plot(t, [s["taskmanagers_mb"] for s in samples], label="TaskManager JVMs")
    ax1.plot(t, [s["python_workers_mb"] for s in samples], label="Python workers")
    ax1.set_ylabel("RSS (MB)")
    ax1.legend()
    ax2.plot(t, [s["lag"] for s in samples], color="tab:red")
    ax2.set_ylabel("Kafka lag (frames)")
    ax2.set_xlabel("minutes")
    for ax in (ax1, ax2):
        ax.axvline(warmup_s / 60, color="grey", linestyle=":")
    fig.suptitle("Flink job soak: memory and lag (dotted: end of warm-up)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------- driver (pytest)
def test_soak_flink(kafka_service, cassandra_service, flink_service, tmp_path_factory):
    from bench_flink import start_job
    from benchlib import emit, machine
    from flink_helpers import JobRun, cancel_job, wait_for
    from soak import kafka_lag

    a = parse(json.loads(os.environ.get(ARGS_ENV, "[]")))
    tmp = tmp_path_factory.mktemp("soak-flink")
    hotlist = tmp / "hotlist.csv"
    hotlist.write_text("plate,list_code,list_name,priority,source\nZZZ0000,V,Stolen Vehicle,10,ncic\n")
    settings, topics, rest, jid, parallelism = start_job(kafka_service, cassandra_service, flink_service, tmp, hotlist, 0)
    job = JobRun(jid, rest)
    load = Load(a, topics, kafka_service.bootstrap)
    sampler = Sampler(a.sample_s, flink_service, job, settings.kafka, load)
    out = {"services": "kafka, cassandra, flink (2 TaskManagers) on the same cores", "parallelism": parallelism,
           "cameras": a.cameras, "fps_per_camera": a.fps, "resolution": f"{a.width}x{a.height}",
           "minutes": a.minutes, "warmup_min": a.warmup_min, "machine": machine()}
    try:
        t0 = time.time()
        sampler.start()
        load.start()
        time.sleep(a.minutes * 60)
        load.stop.set()
        load.join(timeout=120)
        out["load_s"] = round(time.time() - t0, 1)
        final_in = wait_for(lambda: int(job.metric("parse-frames", "frames_in")), lambda v: v >= load.published,
                            timeout=a.drain_s, every=5, what="the job reads every published frame")
        final_lag = wait_for(lambda: kafka_lag(settings.kafka), lambda v: v == 0, timeout=120, every=5,
                             what="committed offsets reach the end")
        sampler.halt.set()
        sampler.join(timeout=60)
        out.update(published=load.published, frames_in=final_in, rounds=load.rounds, hotlist_entries=load.hot_entries,
                   alerts=int(job.metric("dedupe", "alerts")),
                   dead_letters=int(job.metric("parse-frames", "dead_letters") + job.metric("recognize", "dead_letters")),
                   state=rest.state(jid))
        out["verdicts"] = verdicts(a, sampler.samples, load.published, final_in, final_lag)
        out["ok"] = all(out["verdicts"][k] for k in ("memory_flat", "lag_bounded", "no_loss")) and out["state"] == "RUNNING"
        out["samples"] = sampler.samples
    finally:
        load.stop.set()
        sampler.halt.set()
        cancel_job(rest, jid)
    path = Path(a.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    plot(out["samples"], path.with_suffix(".png"), a.warmup_min * 60)
    emit("soak_flink", **{k: v for k, v in out.items() if k != "samples"})


def main(argv=None) -> int:
    a = parse(argv)
    sys.path[:0] = [str(HERE)]
    from benchlib import run_service_benchmark

    rc = run_service_benchmark(Path(__file__), "test_soak_flink", ARGS_ENV, argv if argv is not None else sys.argv[1:],
                               int(a.minutes * 60 + a.drain_s + 1200))
    if rc != 0:
        return rc
    res = json.loads(Path(a.out).read_text())
    res.pop("samples", None)
    print(json.dumps({"benchmark": "soak_flink", **res}))
    return 0 if res.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
