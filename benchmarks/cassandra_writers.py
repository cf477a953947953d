"""Writer processes and CPU accounting for ``bench_cassandra.py``.

Each worker process holds its own ``CassandraStore`` (one driver session, as each Flink
subtask of the job opens its own store) and, on command, writes its share of a round's reads:

* ``ours``: the job's reads sink, ``write_rows(store, "reads", chunk, ...)`` (what
  ``pipelines/flink/sink_operators.WriteStore.map`` calls: per-agency retention lookup, TTLs from
  capture time, then ``CassandraStore.put_reads``), one call per chunk of ``batch`` reads;
* ``seq``: the same, but ``put_reads`` writes its three tables one after the other (what it
  did before 2026-12-03), to show what the one-pass write gains;
* ``base``: the very (prepared statement, bound values) pairs that path issues, captured
  without executing them, written with ``cassandra.concurrent.execute_concurrent_with_args``
  at a given concurrency, one call per statement over all of the process's rows.

CPU: ``/proc`` (utime + stime) of the Cassandra JVM (its pid file, or the process listening on
the CQL port) and of the writer processes; ``/proc/stat`` for the whole machine.
"""

from __future__ import annotations

import os
import random
import time
from functools import partial
from pathlib import Path
from typing import Optional

ROWS_PER_READ = 3


def make_reads(n: int, tag: str, seed: int, t_end: float):
    """``n`` reads of 4 cameras, captured in order over the seconds before ``t_end`` (a live
    stream: a recognition batch falls in one TTL minute, as in the job)."""
    from alpr.records import Candidate, PlateRead

    rng = random.Random(seed)
    out = []
    for i in range(n):
        plate = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(7))
        cands = tuple(Candidate(plate[:k] + "8" + plate[k + 1:], 80.0 - k) for k in range(3))
        out.append(PlateRead(
            read_id=f"{tag}-{i}", frame_id=f"cam-{tag}:{i}", camera_id=f"cam-{tag}-{i % 4}", agency="BENCH",
            capture_ts=t_end - (n - i) * 0.05, plate=plate, confidence=90.0,
            coordinates=((10.0, 10.0), (90.0, 10.0), (90.0, 40.0), (10.0, 40.0)),
            candidates=(Candidate(plate, 90.0), *cands), img_width=1280, img_height=720, seq=i))
    return out


def share(n_total: int, tag: str, seed: int, t_end: float, batch: int, procs: int, k: int) -> list[list]:
    """Process ``k``'s disjoint share of the round's reads: every ``procs``-th chunk of ``batch``."""
    reads = make_reads(n_total, tag, seed, t_end)
    chunks = [reads[i:i + batch] for i in range(0, len(reads), batch)]
    return chunks[k::procs]


def sink_calls(store, chunks: list[list], retention_days: int, spec: str) -> int:
    """The job's reads sink, one call per recognition batch; returns the table rows written."""
    from alpr.pipelines.core.sinks import write_rows

    for chunk in chunks:
        write_rows(store, "reads", chunk, retention_days, spec)
    return ROWS_PER_READ * sum(len(c) for c in chunks)


def driver_bulk(session, stmts: list[tuple], concurrency: int) -> int:
    """Each statement's rows with ``execute_concurrent_with_args``; returns the rows written."""
    from cassandra.concurrent import execute_concurrent_with_args

    for ps, rows in stmts:
        execute_concurrent_with_args(session, ps, rows, concurrency=concurrency)
    return sum(len(rows) for _, rows in stmts)


def worker(conn, host: str, port: int, keyspace: str, retention_days: int) -> None:
    """Command loop: ("prep", kind, n_total, tag, seed, t_end, batch, procs, k, concurrency) ->
    "ready"; ("go",) -> (t0, t1, cpu_s, reads, rows); ("stop",)."""
    from alpr.connectors.stores.cassandra import CassandraStore
    from alpr.pipelines.core.sinks import write_rows

    spec = f"cassandra://{host}:{port}/{keyspace}"
    store = CassandraStore([host], port=port, keyspace=keyspace)
    job = None
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            store.close()
            conn.send("bye")
            return
        if msg[0] == "prep":
            kind, n_total, tag, seed, t_end, batch, procs, k, conc = msg[1:]
            chunks = share(n_total, tag, seed, t_end, batch, procs, k)
            n_reads = sum(len(c) for c in chunks)
            if kind in ("ours", "seq"):
                if kind == "seq":  # put_reads as before 2026-12-03: its three tables one after the other
                    one_pass = type(store)._write_many.__get__(store)
                    store._write_many = lambda writes: sum(one_pass([w]) for w in writes)
                else:
                    store.__dict__.pop("_write_many", None)

                job = partial(sink_calls, store, chunks, retention_days, spec)
            else:
                by_cql: dict[str, list[tuple]] = {}
                store._write_many = lambda writes: sum(  # capture what put_reads would execute
                    by_cql.setdefault(cql, []).extend(rows) or len(rows) for cql, rows in writes)
                try:
                    for chunk in chunks:
                        write_rows(store, "reads", chunk, retention_days, spec)
                finally:
                    store.__dict__.pop("_write_many", None)
                stmts = [(store._prep(cql), rows) for cql, rows in by_cql.items()]
                job = partial(driver_bulk, store._session, stmts, conc)
                assert sum(len(rows) for _, rows in stmts) == ROWS_PER_READ * n_reads, "capture missed rows"
            conn.send(("ready", n_reads))
        elif msg[0] == "go":
            c0, t0 = time.process_time(), time.perf_counter()
            rows = job()
            t1, c1 = time.perf_counter(), time.process_time()
            conn.send((t0, t1, c1 - c0, n_reads, rows))


# --------------------------------------------------------------------------- CPU accounting
_TICK = os.sysconf("SC_CLK_TCK")


def pid_cpu_s(pid: Optional[int]) -> float:
    """utime + stime (seconds, all threads) of one process; 0.0 when unknown or gone."""
    if not pid:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = stat[stat.rfind(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / _TICK


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores (/proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    total = sum(f[:8])
    return (total - idle) / _TICK, total / _TICK


def listener_pid(port: int) -> Optional[int]:
    """The pid of the process listening on TCP ``port`` (from /proc/net/tcp{,6} and fd links)."""
    inodes = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # state LISTEN
                inodes.add(f"socket:[{f[9]}]")
    if not inodes:
        return None
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            for fd in (d / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(d.name)
        except OSError:
            continue
    return None
