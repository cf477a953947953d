"""PNG plots beside the eval/benchmark JSON (matplotlib, headless).

``eval_plots(doc, png)``    accuracy per set (exact top-1, within one edit, top-N hit) and, where a
                            set reports ``per_state``, exact top-1 per state (real sets only)
``bench_plots(doc, stem)``  ``<stem>-ratios.png``: every figure against its same-run baseline
                            (ratio, 1.0 = baseline); ``<stem>-latency.png``: every latency
                            distribution in the results (min / p50 / p99 / max in ms)

Run as a script to (re)draw from a JSON file: ``python benchmarks/plots.py FILE.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator, Optional


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------- eval
def eval_plots(doc: dict, png: Path) -> Path:
    sets = {k: v for k, v in (doc.get("sets") or {}).items() if v.get("images")}
    if not sets:
        raise ValueError("no evaluated sets in the document")
    per_state = {}
    for name, res in sets.items():
        if name.startswith("synthetic"):  # rendered states are not mixed with real photos of a state
            continue
        for state, s in (res.get("per_state") or {}).items():
            if s.get("images"):
                per_state[f"{state}"] = per_state.get(state, []) + [(s["top1_exact"], s["images"])]
    plt = _plt()
    panels = 2 if per_state else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 + 5 * (panels - 1), 4), squeeze=False)
    ax = axes[0][0]
    names = list(sets)
    metrics = [("top1_exact", "exact top-1"), ("top1_within1", "within 1 edit"), ("topn_hit", "top-N hit")]
    width = 0.8 / len(metrics)
    for i, (key, label) in enumerate(metrics):
        xs = [j + (i - 1) * width for j in range(len(names))]
        vals = [100 * float(sets[n].get(key, 0)) for n in names]
        bars = ax.bar(xs, vals, width, label=label)
        if key == "top1_exact":
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(names)), [f"{n}\n({sets[n]['images']})" for n in names], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of images")
    ax.set_title("plate accuracy per set (images)")
    ax.legend(fontsize=7, loc="lower right")
    if per_state:
        ax2 = axes[0][1]
        states = sorted(per_state, key=lambda s: -sum(n for _, n in per_state[s]))[:25]
        vals = [100 * sum(a * n for a, n in per_state[s]) / sum(n for _, n in per_state[s]) for s in states]
        ax2.bar(range(len(states)), vals)
        ax2.set_xticks(range(len(states)), states, fontsize=7, rotation=90)
        ax2.set_ylim(0, 105)
        ax2.set_title("exact top-1 per state")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


# --------------------------------------------------------------------------- benchmarks
def _latencies(node, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every dict in the results holding ``p50_ms`` and ``p99_ms``, with its path."""
    if isinstance(node, dict):
        if "p50_ms" in node and "p99_ms" in node:
            yield path.strip("/"), node
        for k, v in node.items():
            if k not in ("per_vehicle",):
                yield from _latencies(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node[:20]):
            yield from _latencies(v, f"{path}/{i}")


def bench_plots(doc: dict, stem: Path) -> list[Path]:
    plt = _plt()
    written: list[Path] = []
    stem.parent.mkdir(parents=True, exist_ok=True)
    rows = [r for r in doc.get("rows") or [] if isinstance(r.get("ratio"), (int, float))]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
        labels = [r["figure"][:60] for r in rows]
        ratios = [float(r["ratio"]) for r in rows]
        colours = ["#2a7" if x >= 1 else "#d73" for x in ratios]
        ax.barh(range(len(rows)), ratios, color=colours)
        ax.axvline(1.0, color="k", lw=1)
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("ratio to the same-run baseline (1.0 = baseline)")
        ax.set_title("benchmarks against their baselines")
        for i, x in enumerate(ratios):
            ax.text(x, i, f" {x:.2f}", va="center", fontsize=7)
        fig.tight_layout()
        out = stem.with_name(stem.name + "-ratios.png")
        fig.savefig(out, dpi=110)
        plt.close(fig)
        written.append(out)
    lats = list(_latencies(doc.get("benchmarks", doc)))
    if lats:
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(lats) + 1.2))
        for i, (name, d) in enumerate(lats):
            lo, hi = d.get("min_ms", d["p50_ms"]), d.get("max_ms", d["p99_ms"])
            ax.plot([lo, hi], [i, i], color="#999", lw=1)
            ax.plot([d["p50_ms"], d["p99_ms"]], [i, i], color="#37a", lw=5)
            ax.plot([d["p50_ms"]], [i], "k|", ms=12)
            ax.text(hi, i, f" p50 {d['p50_ms']:.0f} / p99 {d['p99_ms']:.0f} ms (n={d.get('n', '?')})",
                    va="center", fontsize=7)
        ax.set_xlim(0, 1.7 * max(d.get("max_ms", d["p99_ms"]) for _, d in lats))
        ax.set_yticks(range(len(lats)), [n[:55] for n, _ in lats], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("ms (thin: min-max, thick: p50-p99)")
        ax.set_title("latency distributions")
        fig.tight_layout()
        out = stem.with_name(stem.name + "-latency.png")
        fig.savefig(out, dpi=110)
        plt.close(fig)
        written.append(out)
    return written


def plots_for(json_path: Path) -> list[Path]:
    """The plots for one result file, written beside it (``x.json`` -> ``x.png`` / ``x-*.png``)."""
    doc = json.loads(Path(json_path).read_text())
    if doc.get("benchmark") == "eval_accuracy":
        return [eval_plots(doc, Path(json_path).with_suffix(".png"))]
    return bench_plots(doc, Path(json_path).with_suffix(""))


def try_plots(json_path: Path) -> Optional[list[Path]]:
    """:func:`plots_for`, printing where the PNGs went, or one line why there are none."""
    try:
        paths = plots_for(json_path)
    except ImportError:
        print("plots: matplotlib is not installed (pip install -e '.[test]'); no PNG written", file=sys.stderr)
        return None
    for p in paths:
        print(f"plot: {p}")
    return paths


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        try_plots(Path(arg))
