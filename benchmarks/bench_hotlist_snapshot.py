"""Live hotlist changes: HotlistSnapshot.apply (incremental) against rebuilding the whole index.

Usage: python benchmarks/bench_hotlist_snapshot.py [--entries 1000000] [--changes 2000] [--reads 20000]

Baseline, measured in the same run: ``HotlistMatcher.build`` over all the entries, i.e. what
the job would pay per change if it reloaded the whole list. Candidate: ``apply`` of one change
(a mix of adds, plate changes and removals) to a snapshot, followed by the first match (the
overlay index is built lazily then), averaged over ``--changes`` changes; compaction, when the
overlay passes ``compact_at``, is included where it happens. Also: match throughput with a
full overlay against the bare base index. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import emit, percentile, ratio  # noqa: E402

from alpr.hotlist.matcher import HotlistMatcher  # noqa: E402
from alpr.hotlist.synth import ncic_like_entries, read_stream  # noqa: E402
from alpr.pipelines.core.matching import COMPACT_AT, HotlistSnapshot  # noqa: E402
from alpr.records import HotlistChange  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--changes", type=int, default=2000)
    ap.add_argument("--reads", type=int, default=20_000)
    ap.add_argument("--rebuilds", type=int, default=3, help="full rebuilds timed for the baseline")
    ap.add_argument("--compact-at", type=int, default=COMPACT_AT)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    entries = ncic_like_entries(a.entries + a.changes, seed=a.seed)
    base, spare = entries[:a.entries], entries[a.entries:]

    rebuild = []
    for _ in range(a.rebuilds):
        t0 = time.perf_counter()
        HotlistMatcher.build(base)
        rebuild.append(time.perf_counter() - t0)
    snap = HotlistSnapshot.from_entries(base, compact_at=a.compact_at)

    changes = []
    for i in range(a.changes):
        r = rng.random()
        if r < 0.5:
            e = spare[i]
            changes.append(HotlistChange("upsert", e.entry_id, e, reason="add"))
        elif r < 0.75:
            old = base[rng.randrange(len(base))]
            e = old.__class__(**{**old.__dict__, "plate": spare[i].plate})
            changes.append(HotlistChange("upsert", e.entry_id, e, reason="add"))
        else:
            changes.append(HotlistChange("remove", base[rng.randrange(len(base))].entry_id, reason="remove"))
    probe = [("ABC123", 90.0)]
    per_change, compactions = [], 0
    for c in changes:
        t0 = time.perf_counter()
        nxt = snap.apply(c)
        nxt.match_candidates(probe, best_plate="ABC123")  # builds the overlay index
        per_change.append(time.perf_counter() - t0)
        compactions += nxt.base is not snap.base
        snap = nxt

    reads = list(read_stream(a.reads, seed=a.seed + 1, hot=[e.plate for e in base[:1000]], hot_share=0.1,
                             noisy_share=0.5))
    plain = HotlistSnapshot(base=snap.base)
    timings = {"base_only": 0.0, "with_overlay": 0.0}
    for _ in range(3):  # alternate, best of 3: the machine is shared
        for name, s in (("base_only", plain), ("with_overlay", snap)):
            t0 = time.perf_counter()
            for p in reads:
                s.match_candidates([(p, 90.0)], best_plate=p)
            timings[name] = max(timings[name], len(reads) / (time.perf_counter() - t0))

    rebuild_s = min(rebuild)
    mean = sum(per_change) / len(per_change)
    emit("hotlist_snapshot", entries=a.entries, changes=a.changes, compact_at=a.compact_at,
         overlay_at_end=len(snap.overlay), compactions=compactions,
         full_rebuild_s=round(rebuild_s, 3), apply_mean_ms=round(mean * 1000, 3),
         apply_p50_ms=round(percentile(per_change, 50) * 1000, 3),
         apply_p99_ms=round(percentile(per_change, 99) * 1000, 3),
         apply_max_ms=round(max(per_change) * 1000, 1),
         speedup_mean_vs_rebuild=ratio(rebuild_s, mean, 1),
         match_per_s_base_only=round(timings["base_only"]), match_per_s_with_overlay=round(timings["with_overlay"]),
         match_ratio_overlay_vs_base=ratio(timings["with_overlay"], timings["base_only"]),
         accelerated=snap.base.accelerated)


if __name__ == "__main__":
    main()
