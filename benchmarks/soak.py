"""Soak test: run the stack under a steady synthetic load for N minutes and watch it.

    python benchmarks/soak.py --minutes 2                 # embedded: DirectRunner + ONNX + SQLite
    python benchmarks/soak.py --minutes 2 --services      # Kafka source/alerts + Cassandra store
                                                          # (inside `flock /tmp/alpr-services.lock`)

A load generator (the synthetic camera, a new seed each round) pushes frames through the
real pipeline round after round until the time is up. A sampler thread records the process
RSS every ``--sample-s`` seconds; each round records frames, reads, alerts, dead letters,
throughput and (services mode) the consumer-group lag before and after the round. Prints a
table, then one JSON line with the totals, RSS growth (first round vs last) and verdicts.
Exit code 1 when frames were lost (decoded + dead letters != frames in) or RSS grew more
than ``--max-rss-growth-mb`` after the warm-up round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from alpr.connectors.auth import with_credentials  # SASL/SCRAM (ALPR_KAFKA__SASL_*)

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    """Resident set size of this process (the DirectRunner runs the DoFns in-process)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Sampler(threading.Thread):
    def __init__(self, every_s: float):
        super().__init__(name="soak-rss", daemon=True)
        self.every_s = every_s
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        t0 = time.time()
        while not self._halt.is_set():
            self.samples.append((time.time() - t0, rss_mb()))
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


@dataclass
class Round:
    n: int
    seconds: float
    frames: int
    decoded: int
    dead_letters: int
    reads: int
    alerts: int
    fps: float
    rss_mb: float
    lag_before: Optional[int] = None
    lag_after: Optional[int] = None


def kafka_lag(cfg) -> int:
    """Sum over partitions of (high watermark - committed offset of the pipeline's group)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(with_credentials({"bootstrap.servers": cfg.bootstrap, "group.id": cfg.group_id, "enable.auto.commit": False}))
    try:
        meta = c.list_topics(cfg.frames_topic, timeout=10)
        topic = meta.topics.get(cfg.frames_topic)
        if topic is None or topic.error is not None:
            return 0
        lag = 0
        for tp in c.committed([TopicPartition(cfg.frames_topic, p) for p in topic.partitions], timeout=10):
            low, high = c.get_watermark_offsets(tp, timeout=10)
            lag += high - (tp.offset if tp.offset >= 0 else low)
        return lag
    finally:
        c.close()


def make_settings(args, workdir: Path, round_no: int):
    from alpr.config import load_settings

    common = dict(camera_id="soak-cam", agency="SOAK", seed=args.seed + round_no, print_results=False)
    if args.services:
        return load_settings(source="kafka", store=args.store or os.environ.get("ALPR_STORE", ""),
                             alerts_sink="kafka", **common)
    return load_settings(source=f"synthetic:{args.vehicles}", store=f"sqlite:{workdir}/soak.db",
                         alerts_sink=f"jsonl:{workdir}/alerts.jsonl", **common)


def produce_round(settings, vehicles: int, seed: int) -> int:
    """Services mode: the load generator publishes one synthetic clip to the frames topic."""
    from alpr.connectors.camera.synthetic import SyntheticCamera
    from alpr.connectors.kafka import CameraGateway

    cam = SyntheticCamera(settings.camera_id, settings.agency, n_vehicles=vehicles, seed=seed)
    gw = CameraGateway(settings.kafka.bootstrap, settings.kafka.frames_topic)
    n = gw.publish(cam.frames())
    gw.flush()
    return n


def one_round(args, workdir: Path, n: int) -> Round:
    from alpr.pipelines.graph import run

    settings = make_settings(args, workdir, n)
    lag_before = lag_after = None
    if args.services:
        produce_round(settings, args.vehicles, args.seed + n)
        lag_before = kafka_lag(settings.kafka)
    t0 = time.time()
    summary = run(settings)
    secs = time.time() - t0
    if args.services:
        lag_after = kafka_lag(settings.kafka)
    c = summary.counters
    frames = int(c.get("frames_in", 0)) or int(c.get("frames_decoded", 0)) + summary.dead_letters
    return Round(n=n, seconds=round(secs, 2), frames=frames, decoded=int(c.get("frames_decoded", 0)),
                 dead_letters=int(summary.dead_letters), reads=int(c.get("reads", 0)), alerts=int(c.get("alerts", 0)),
                 fps=round(frames / secs, 2) if secs else 0.0, rss_mb=round(rss_mb(), 1),
                 lag_before=lag_before, lag_after=lag_after)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="how long to keep the load on (default 2)")
    ap.add_argument("--services", action="store_true", help="Kafka source + alerts, Cassandra store ($ALPR_STORE)")
    ap.add_argument("--store", help="services mode: store spec (default $ALPR_STORE)")
    ap.add_argument("--vehicles", type=int, default=2, help="vehicles per synthetic clip (round)")
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--sample-s", type=float, default=2.0, help="RSS sampling period")
    ap.add_argument("--max-rss-growth-mb", type=float, default=300.0)
    ap.add_argument("--workdir", help="where the embedded store goes (default: a temp dir)")
    args = ap.parse_args(argv)
    if args.services and not (args.store or os.environ.get("ALPR_STORE")):
        ap.error("--services needs --store cassandra://HOST:PORT/KEYSPACE or $ALPR_STORE")

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="alpr-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + args.minutes * 60
    sampler = Sampler(args.sample_s)
    sampler.start()
    rounds: list[Round] = []
    t0 = time.time()
    try:
        while time.time() < deadline or not rounds:
            rounds.append(one_round(args, workdir, len(rounds)))
            r = rounds[-1]
            print(f"round {r.n:3d}: {r.frames:4d} frames in {r.seconds:6.1f}s ({r.fps:5.1f} fps) "
                  f"reads={r.reads} alerts={r.alerts} dead={r.dead_letters} rss={r.rss_mb:.0f}MB"
                  + (f" lag {r.lag_before}->{r.lag_after}" if args.services else ""), flush=True)
    finally:
        sampler.stop()
    elapsed = time.time() - t0

    print()
    print(f"{'round':>5} {'sec':>7} {'frames':>7} {'decoded':>7} {'dead':>5} {'reads':>6} {'alerts':>6} "
          f"{'fps':>6} {'rss_mb':>7}" + (f" {'lag0':>6} {'lag1':>6}" if args.services else ""))
    for r in rounds:
        print(f"{r.n:5d} {r.seconds:7.1f} {r.frames:7d} {r.decoded:7d} {r.dead_letters:5d} {r.reads:6d} "
              f"{r.alerts:6d} {r.fps:6.1f} {r.rss_mb:7.1f}"
              + (f" {r.lag_before:6d} {r.lag_after:6d}" if args.services else ""))
    frames = sum(r.frames for r in rounds)
    lost = sum(r.frames - r.decoded - r.dead_letters for r in rounds)
    rss = [mb for _, mb in sampler.samples] or [rss_mb()]
    # RSS swings by hundreds of MB inside a round (frames, model buffers, GC): compare the median
    # of the samples after the warm-up round's first half of the run with its second half
    warm = rounds[0].rss_mb
    after = [mb for t, mb in sampler.samples if t >= rounds[0].seconds] or rss
    half = len(after) // 2
    growth = (statistics.median(after[half:]) - statistics.median(after[:half])) if half else 0.0
    result = {
        "mode": "services" if args.services else "embedded", "minutes": round(elapsed / 60, 2),
        "rounds": len(rounds), "frames": frames, "reads": sum(r.reads for r in rounds),
        "alerts": sum(r.alerts for r in rounds), "dead_letters": sum(r.dead_letters for r in rounds),
        "lost_frames": lost, "throughput_fps": round(frames / elapsed, 2) if elapsed else 0.0,
        "rss_mb": {"min": round(min(after), 1), "max": round(max(after), 1), "after_warmup": warm,
                   "last": rounds[-1].rss_mb, "median_growth_after_warmup": round(growth, 1)},
        "final_lag": rounds[-1].lag_after if args.services else None,
        "ok": lost == 0 and growth <= args.max_rss_growth_mb,
        "rounds_detail": [asdict(r) for r in rounds],
    }
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
