"""Cassandra rows/s of the Flink job's reads writer vs the driver's own bulk path, same node, same run.

Usage::

    flock /tmp/alpr-services.lock .venv/bin/python benchmarks/bench_cassandra.py   # starts its own node
    .venv/bin/python benchmarks/bench_cassandra.py --cassandra H:P [--keyspace alpr] [--cassandra-pid-file F]
        [--procs N] [--reads 3000] [--batch 8] [--rounds 5] [--sweep 16,32,64,128,256] [--sweep-reads 1500]
        [--compare-sequential]

Without ``--cassandra`` it takes the services lock and starts one Cassandra node with
``infra/services.sh up cassandra`` on free ports in a private run dir (stopped afterwards);
with it, credentials come from ``ALPR_CASSANDRA__*`` as for the application.

Both sides run in ``--procs`` writer processes (default: one per core; the job runs one store
writer per subtask), each writing its own disjoint share of the same generated reads:

* **ours**: the job's reads sink (``pipelines/flink/sink_operators.WriteStore.map`` ->
  ``pipelines/core/sinks.write_rows`` -> ``CassandraStore.put_reads``), one call per
  recognition batch: ``--batch`` reads (``Settings.batch_size`` frames, about one read each);
* **baseline**: the same prepared INSERTs with the same bound values (3 table rows per read),
  written by ``cassandra.concurrent.execute_concurrent_with_args`` at its best concurrency,
  found first by a short sweep (``--sweep``);
* with ``--compare-sequential`` also ours with ``put_reads`` writing its three tables one after
  the other, as it did before 2026-12-03 (it now writes them in one concurrent pass).

Measured rounds alternate ours / baseline over the same reads (the order flips each round); the
median round of each is reported, and the ratio is the median over rounds of ours / baseline of
the same round (the load on shared cores swings between rounds more than within one). The
sweep runs twice (up, then down) and keeps each concurrency's better round. Per round: reads/s and rows/s (wall clock), the Cassandra
node's CPU share (its CPU seconds / (wall x cores)), the writers' CPU share and the whole
machine's busy share (the node shares the cores with the writers and anything else running).
Target: ours >= 0.8 of the baseline. The last line is JSON; ``--out`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchlib import add_service_args, emit, ratio, read_pid, resolve_service_args, running_services, services_lock
from cassandra_writers import ROWS_PER_READ, listener_pid, machine_busy_s, pid_cpu_s, worker

HERE = Path(__file__).resolve().parent
TARGET = 0.8


class Writers:
    """``procs`` worker processes (spawned: the driver's threads do not survive fork)."""

    def __init__(self, procs: int, host: str, port: int, keyspace: str, retention_days: int, node_pid):
        ctx = mp.get_context("spawn")
        self.conns, self.procs, self.node_pid = [], [], node_pid
        for _ in range(procs):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker, args=(child, host, port, keyspace, retention_days), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)

    def round(self, kind: str, n: int, tag: str, seed: int, batch: int, conc: int = 0) -> dict:
        t_end = time.time()
        for k, c in enumerate(self.conns):
            c.send(("prep", kind, n, tag, seed, t_end, batch, len(self.conns), k, conc))
        for c in self.conns:
            got = c.recv()
            assert got[0] == "ready", got
        node0, (busy0, tot0) = pid_cpu_s(self.node_pid), machine_busy_s()
        w0 = time.perf_counter()
        for c in self.conns:
            c.send(("go",))
        res = [c.recv() for c in self.conns]
        wall = time.perf_counter() - w0
        node1, (busy1, tot1) = pid_cpu_s(self.node_pid), machine_busy_s()
        cores = os.cpu_count() or 1
        reads, rows, cpu = sum(r[3] for r in res), sum(r[4] for r in res), sum(r[2] for r in res)
        return {"kind": kind, "concurrency": conc or None, "reads": reads, "rows": rows, "wall_s": round(wall, 3),
                "reads_per_s": round(reads / wall), "rows_per_s": round(rows / wall),
                "node_cpu_share": round((node1 - node0) / (wall * cores), 3) if self.node_pid else None,
                "writers_cpu_share": round(cpu / (wall * cores), 3),
                "writer_cpu_ms_per_1k_rows": round(1e6 * cpu / rows, 1),
                "machine_busy_share": ratio(busy1 - busy0, tot1 - tot0)}

    def close(self) -> None:
        for c in self.conns:
            c.send(("stop",))
        for c, p in zip(self.conns, self.procs):
            c.recv()
            p.join(30)


def show(r: dict) -> str:
    what = {"ours": "ours (job's writer)", "seq": "ours, tables in turn"}.get(r["kind"], f"baseline c={r['concurrency']}")
    return (f"{what:22s} {r['rows_per_s']:7d} rows/s {r['reads_per_s']:6d} reads/s  node CPU {r['node_cpu_share']}"
            f"  writers CPU {r['writers_cpu_share']}  machine busy {r['machine_busy_share']}")


def measure(a, host: str, port: int, node_pid) -> dict:
    from alpr.config import Settings

    run = uuid.uuid4().hex[:8]
    w = Writers(a.procs, host, port, a.keyspace, Settings().retention_days, node_pid)
    try:
        w.round("ours", 40 * a.procs * a.batch, f"wo-{run}", 0, a.batch)  # connect, prepare, warm the node
        w.round("base", 40 * a.procs * a.batch, f"wb-{run}", 1, a.batch, 64)
        sweep: dict[int, int] = {}
        for conc in a.sweep + a.sweep[::-1]:  # two passes, up then down; each keeps its better one
            r = w.round("base", a.sweep_reads, f"s{conc}-{run}", 2, a.batch, conc)
            sweep[conc] = max(sweep.get(conc, 0), r["rows_per_s"])
            print("sweep   " + show(r), flush=True)
        best = max(sweep, key=sweep.get)
        rounds = []
        for i in range(a.rounds):
            order = [("ours", 0), ("base", best)] + ([("seq", 0)] if a.compare_sequential else [])
            for kind, conc in (order if i % 2 == 0 else order[::-1]):
                rounds.append({"round": i, **w.round(kind, a.reads, f"r{i}-{run}", 10 + i, a.batch, conc)})
                print(f"round {i} " + show(rounds[-1]), flush=True)
    finally:
        w.close()

    def med(kind):
        xs = sorted((r for r in rounds if r["kind"] == kind), key=lambda r: r["rows_per_s"])
        return xs[len(xs) // 2]

    def paired(kind):  # median over rounds of kind / baseline of the same round (adjacent in time)
        by = {}
        for r in rounds:
            by.setdefault(r["round"], {})[r["kind"]] = r["rows_per_s"]
        return round(statistics.median(v[kind] / v["base"] for v in by.values()), 3)

    o, b = med("ours"), med("base")
    rat = paired("ours")
    seq = {}
    if a.compare_sequential:
        seq = {"sequential_tables_rows_per_s": med("seq")["rows_per_s"],
               "sequential_tables_ratio_vs_baseline": paired("seq")}
    return {
        "procs": a.procs, "reads_per_round": a.reads, "batch": a.batch, "rounds": a.rounds,
        "rows_per_read": ROWS_PER_READ,
        "reads_per_s": o["reads_per_s"], "rows_per_s": o["rows_per_s"],
        "baseline_reads_per_s": b["reads_per_s"], "baseline_rows_per_s": b["rows_per_s"],
        "best_concurrency": best, "sweep_rows_per_s": sweep, "ratio_vs_baseline": rat,
        "ratio_of_medians": ratio(o["rows_per_s"], b["rows_per_s"]), **seq,
        "target_ratio": TARGET, "met": rat is not None and rat >= TARGET,
        "node_cpu_share": o["node_cpu_share"], "baseline_node_cpu_share": b["node_cpu_share"],
        "writers_cpu_share": o["writers_cpu_share"], "baseline_writers_cpu_share": b["writers_cpu_share"],
        "machine_busy_share": o["machine_busy_share"], "baseline_machine_busy_share": b["machine_busy_share"],
        "writer_cpu_ms_per_1k_rows": o["writer_cpu_ms_per_1k_rows"],
        "baseline_writer_cpu_ms_per_1k_rows": b["writer_cpu_ms_per_1k_rows"],
        "node_pid_found": node_pid is not None, "round_results": rounds,
        "note": f"one Cassandra node on the same {os.cpu_count()} shared cores as the writers; "
                "CPU shares are of all cores over the round's wall time",
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_service_args(ap, cassandra=True)
    ap.add_argument("--cassandra-pid-file", default=None, help="the node's pid file (else: the CQL port's listener)")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="writer processes (default: cores)")
    ap.add_argument("--reads", type=int, default=3000, help="reads per measured round (all processes)")
    ap.add_argument("--batch", type=int, default=None, help="reads per sink call (default Settings.batch_size)")
    ap.add_argument("--rounds", type=int, default=5, help="measured rounds of each")
    ap.add_argument("--sweep", default="16,32,64,128,256", help="baseline concurrencies to try")
    ap.add_argument("--sweep-reads", type=int, default=1500, help="reads per sweep round")
    ap.add_argument("--compare-sequential", action="store_true",
                    help="also time put_reads writing its three tables one after the other (the old way)")
    ap.add_argument("--out", default=str(HERE / "results" / "cassandra-writer.json"), help="'' = do not write")
    a = ap.parse_args(argv)
    from alpr.config import Settings

    a.batch = a.batch or Settings().batch_size
    a.sweep = [int(x) for x in a.sweep.split(",") if x.strip()]
    if a.cassandra:
        resolve_service_args(a)
        host, _, port = a.cassandra.rpartition(":")
        pid = read_pid(a.cassandra_pid_file) or listener_pid(int(port))
        out = measure(a, host, int(port), pid)
    else:
        with services_lock(), tempfile.TemporaryDirectory(prefix="alpr-bench-cass-") as d, \
                running_services(["cassandra"], Path(d), log=lambda m: print(m, file=sys.stderr)) as ep:
            os.environ.update(ALPR_CASSANDRA__USERNAME="alpr_app",
                              ALPR_CASSANDRA__PASSWORD_FILE=f"{d}/secrets/cassandra-alpr_app.password")
            a.keyspace = a.keyspace or ep.args(["cassandra"])[-1]
            host, _, port = ep.cassandra.rpartition(":")
            pid = read_pid(f"{d}/cassandra/cassandra.pid") or listener_pid(int(port))
            out = measure(a, host, int(port), pid)
    print(f"job's writer {out['rows_per_s']} rows/s vs execute_concurrent_with_args (c={out['best_concurrency']}) "
          f"{out['baseline_rows_per_s']} rows/s -> {out['ratio_vs_baseline']} (target >= {TARGET}); "
          f"node CPU share {out['node_cpu_share']}", flush=True)
    res = emit("bench_cassandra", **out)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
