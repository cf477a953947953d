"""Hotlist matcher speed at scale, side by side with brute-force rapidfuzz (1 thread).

Usage: python benchmarks/bench_matcher.py [--entries 1000000] [--reads 200000] [--brute 200] [--pure-python]
Throughputs are per core: calls / CPU seconds of this (single-threaded) process, with the
wall-clock figure next to it. The last line printed is one JSON object with every figure.

Every entry is fuzzy (OCR + edit distance 1), the worst case: with 1M random fleet plates
almost every read has a real distance-1 neighbour. ``match`` counts hits only (``Hit.aligned``
is built lazily); ``match_aligned`` also builds every hit's alignment string, as the alert
path does. The C index (``alpr.hotlist._fastmatch``) is used when built; ``--pure-python``
measures the fallback. ``accelerated`` in the JSON says which one ran.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

from alpr.hotlist.matcher import HotlistMatcher  # noqa: E402
from alpr.hotlist.synth import ncic_like_entries, read_stream  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(fn, items):
    w0, c0 = time.perf_counter(), time.process_time()
    hits = 0
    for x in items:
        hits += len(fn(x))
    return time.perf_counter() - w0, time.process_time() - c0, hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--reads", type=int, default=200_000)
    ap.add_argument("--latency-sample", type=int, default=50_000)
    ap.add_argument("--brute", type=int, default=200, help="queries for the rapidfuzz brute-force baseline")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pure-python", action="store_true", help="force the pure-Python index (no C extension)")
    a = ap.parse_args()
    accel = False if a.pure_python else None

    entries = ncic_like_entries(a.entries, seed=a.seed, source="csv", match_strategy="lenient")
    hot = [e.plate for e in entries[:: max(1, len(entries) // 20000)]]
    reads = list(read_stream(a.reads, seed=a.seed + 1, hot=hot, hot_share=0.05, noisy_share=0.5))
    gc.collect()
    gc.disable()  # the index holds no cycles; keeps collector pauses out of the timings
    rss0 = rss_bytes()
    w0, c0 = time.perf_counter(), time.process_time()
    m = HotlistMatcher.build(entries, accel=accel)
    build_wall, build_cpu = time.perf_counter() - w0, time.process_time() - c0
    rss_delta = rss_bytes() - rss0
    est = m.memory_bytes()
    print(f"{'C' if m.accelerated else 'pure-Python'} index, build {len(m)} entries: "
          f"{build_wall:.2f}s wall, {build_cpu:.2f}s cpu; "
          f"index ~{est / 1e6:.0f} MB (RSS +{rss_delta / 1e6:.0f} MB)")

    lw, lc, lhits = timed(m.lookup, reads)
    print(f"exact+OCR lookup: {len(reads) / lc:,.0f}/s per core ({len(reads) / lw:,.0f}/s wall), hits {lhits}")
    fw, fc, fhits = timed(m.match, reads)
    print(f"full match: {len(reads) / fc:,.0f}/s per core ({len(reads) / fw:,.0f}/s wall), hits {fhits}")

    def match_aligned(r):
        hits = m.match(r)
        for h in hits:
            h.aligned
        return hits

    aw, ac, ahits = timed(match_aligned, reads)
    print(f"full match + every hit's aligned string: {len(reads) / ac:,.0f}/s per core "
          f"({len(reads) / aw:,.0f}/s wall)")

    sample = reads[: a.latency_sample]
    lat = []
    pc = time.perf_counter_ns
    match = m.match
    for r in sample:
        t = pc()
        match(r)
        lat.append(pc() - t)
    lat.sort()
    p50, p99 = lat[len(lat) // 2] / 1000, lat[int(len(lat) * 0.99)] / 1000
    print(f"full match latency: p50 {p50:.1f} us, p99 {p99:.1f} us")
    gc.enable()

    # recommended per-list settings (bench_hotlist_precision): big state feeds exact-only,
    # an agency list (2 % of entries) OCR + edit fuzzy
    from dataclasses import replace

    cut = len(entries) // 50
    mixed = [replace(e, fuzzy=False) for e in entries[cut:]] + entries[:cut]
    mm = HotlistMatcher.build(mixed, accel=accel)
    gc.disable()
    rw, rc, rhits = timed(mm.match, reads)
    gc.enable()
    del mm, mixed
    print(f"full match, state feeds exact-only + 2% fuzzy agency list: {len(reads) / rc:,.0f}/s per core "
          f"({len(reads) / rw:,.0f}/s wall), hits {rhits}")

    # brute force: rapidfuzz Levenshtein over the canonical forms of every entry, same data
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    canon = m.ocr_table.canonical
    choices = [canon(e.plate) for e in entries]
    rng = random.Random(a.seed + 2)
    queries = rng.sample(reads, min(a.brute, len(reads)))
    w0, c0 = time.perf_counter(), time.process_time()
    brute = [process.extract(canon(q), choices, scorer=Levenshtein.distance, score_cutoff=1, limit=None)
             for q in queries]
    bw, bc = time.perf_counter() - w0, time.process_time() - c0
    agree = 0
    for q, res in zip(queries, brute):
        want = {entries[i].entry_id for _, _, i in res if m._score(q, entries[i]) is not None}
        agree += want == {h.entry.entry_id for h in m.match(q)}
    print(f"rapidfuzz brute force: {len(queries) / bc:,.1f}/s per core over {len(choices)} entries; "
          f"matcher agrees on {agree}/{len(queries)} queries")

    lookup_s, match_s = len(reads) / lc, len(reads) / fc
    targets = {"lookup_per_s": 1_000_000, "match_per_s": 200_000, "p99_us": 50, "index_mb": 200, "build_s": 10}
    meets = {"lookup_per_s": lookup_s >= targets["lookup_per_s"], "match_per_s": match_s >= targets["match_per_s"],
             "p99_us": p99 <= targets["p99_us"], "index_mb": est / 1e6 <= targets["index_mb"],
             "build_s": build_cpu <= targets["build_s"]}
    print(json.dumps({
        "benchmark": "bench_matcher", "bench": "hotlist_matcher", "accelerated": m.accelerated,
        "entries": len(m), "reads": len(reads),
        "build_s_wall": round(build_wall, 2), "build_s_cpu": round(build_cpu, 2),
        "index_mb_est": round(est / 1e6, 1), "index_mb_rss_delta": round(rss_delta / 1e6, 1),
        "lookup_per_s_core": round(len(reads) / lc), "lookup_per_s_wall": round(len(reads) / lw),
        "match_per_s_core": round(len(reads) / fc), "match_per_s_wall": round(len(reads) / fw),
        "match_aligned_per_s_core": round(len(reads) / ac), "match_aligned_per_s_wall": round(len(reads) / aw),
        "match_mixed_lists_per_s_core": round(len(reads) / rc), "match_mixed_lists_per_s_wall": round(len(reads) / rw),
        "match_p50_us": round(p50, 2), "match_p99_us": round(p99, 2),
        "brute_rapidfuzz_per_s_core": round(len(queries) / bc, 2),
        "brute_rapidfuzz_per_s_wall": round(len(queries) / bw, 2), "brute_queries": len(queries),
        "speedup_vs_brute": round((len(reads) / fc) / (len(queries) / bc), 1),
        "agree_with_brute": f"{agree}/{len(queries)}", "lookup_hits": lhits, "match_hits": fhits,
        "loadavg_1m": os.getloadavg()[0],
        "targets": targets, "meets_targets": meets,
    }))


if __name__ == "__main__":
    main()
