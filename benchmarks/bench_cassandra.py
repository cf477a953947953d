"""Cassandra write throughput of one writer process: ``CassandraStore.put_reads`` vs one-by-one.

Usage (Cassandra running, e.g. ``infra/services.sh up cassandra``)::

    .venv/bin/python benchmarks/bench_cassandra.py [--cassandra 127.0.0.1:19042] [--keyspace alpr]
        [--reads 6000] [--batch 200] [--baseline-reads 600] [--rounds 2]

``put_reads`` writes each PlateRead into three tables (reads_by_plate, reads_by_camera_day,
reads_by_id) with prepared ``INSERT ... USING TTL ?`` statements executed concurrently
(``execute_concurrent_with_args``, concurrency 64), in calls of ``--batch`` reads (the
pipeline's store writer flushes every 200). Baseline, same run, same prepared statements and
bound values: synchronous ``session.execute`` one row at a time. Reads/s and rows/s (3 rows
per read) of wall clock; the Cassandra node runs on the same (shared) cores. Rounds alternate
ours/baseline; the median round is reported. Target: >= 8,000 rows/s per writer process.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid

from benchlib import add_service_args, emit, ratio, resolve_service_args

ROWS_PER_READ = 3


def make_reads(n: int, tag: str, seed: int):
    from alpr.records import Candidate, PlateRead

    rng = random.Random(seed)
    now = time.time()
    out = []
    for i in range(n):
        plate = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(7))
        cands = tuple(Candidate(plate[:k] + "8" + plate[k + 1:], 80.0 - k) for k in range(3))
        out.append(PlateRead(
            read_id=f"{tag}-{i}", frame_id=f"cam-{tag}:{i}", camera_id=f"cam-{tag}-{i % 4}", agency="BENCH",
            capture_ts=now - rng.random() * 3600, plate=plate, confidence=90.0,
            coordinates=((10.0, 10.0), (90.0, 10.0), (90.0, 40.0), (10.0, 40.0)),
            candidates=(Candidate(plate, 90.0), *cands), img_width=1280, img_height=720, seq=i))
    return out


def captured_rows(store, reads, ttl_s: int) -> list[tuple[str, tuple]]:
    """The (cql, values) pairs ``put_reads`` would execute, captured without executing them."""
    captured: list[tuple[str, tuple]] = []
    real = store._write
    store._write = lambda cql, rows: captured.extend((cql, r) for r in rows) or len(rows)
    try:
        store.put_reads(reads, ttl_s)
    finally:
        store._write = real
    return captured


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_service_args(ap, cassandra=True)
    ap.add_argument("--reads", type=int, default=6000, help="reads per round for put_reads")
    ap.add_argument("--batch", type=int, default=200, help="reads per put_reads call")
    ap.add_argument("--baseline-reads", type=int, default=600, help="reads per round for the one-by-one baseline")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ttl", type=int, default=31_536_000)
    a = ap.parse_args(argv)
    resolve_service_args(a)

    from alpr.connectors.stores.cassandra import CassandraStore

    host, _, port = a.cassandra.rpartition(":")
    store = CassandraStore([host], port=int(port), keyspace=a.keyspace)
    run = uuid.uuid4().hex[:8]
    store.put_reads(make_reads(200, f"warm-{run}", 0), a.ttl)  # prepare statements, open connections
    ours, base = [], []
    for rnd in range(a.rounds):
        reads = make_reads(a.reads, f"o{rnd}-{run}", rnd + 1)
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(0, len(reads), a.batch):
            store.put_reads(reads[i:i + a.batch], a.ttl)
        ours.append((time.perf_counter() - w0, time.process_time() - c0, len(reads)))

        rows = captured_rows(store, make_reads(a.baseline_reads, f"b{rnd}-{run}", rnd + 101), a.ttl)
        session = store._session
        prepared = {cql: store._prep(cql) for cql in {c for c, _ in rows}}
        c0, w0 = time.process_time(), time.perf_counter()
        for cql, values in rows:
            session.execute(prepared[cql], values)
        base.append((time.perf_counter() - w0, time.process_time() - c0, a.baseline_reads))
        print(f"round {rnd}: put_reads {ours[-1][2] / ours[-1][0]:8.0f} reads/s; "
              f"one-by-one {base[-1][2] / base[-1][0]:8.0f} reads/s")
    store.close()

    def med(xs):
        xs = sorted(xs, key=lambda t: t[2] / t[0])
        return xs[len(xs) // 2]

    ow, oc, on = med(ours)
    bw, bc, bn = med(base)
    out = {
        "reads_per_round": a.reads, "batch": a.batch, "rounds": a.rounds, "concurrency": 64,
        "reads_per_s": round(on / ow), "rows_per_s": round(ROWS_PER_READ * on / ow),
        "client_cpu_s_per_1k_rows": round(1000 * oc / (ROWS_PER_READ * on), 3),
        "baseline_reads_per_s": round(bn / bw), "baseline_rows_per_s": round(ROWS_PER_READ * bn / bw),
        "baseline_reads": bn, "speedup_vs_baseline": ratio(on / ow, bn / bw, 2),
        "rows_per_read": ROWS_PER_READ, "target_rows_per_s": 8000,
        "note": "single Cassandra 5.0 node (heap 768m) on the same 2 shared cores as the writer",
    }
    print(f"put_reads: {out['rows_per_s']} rows/s ({out['reads_per_s']} reads/s) vs one-by-one "
          f"{out['baseline_rows_per_s']} rows/s -> x{out['speedup_vs_baseline']}")
    emit("bench_cassandra", **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
