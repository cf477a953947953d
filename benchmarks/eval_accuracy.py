"""Plate-recognition accuracy on labelled image sets.

Usage::

    .venv/bin/python benchmarks/eval_accuracy.py --eu ../shared/data/openalpr-eu \
        --ar ../shared/data/fastplateocr-ar [--synthetic 200] [--show-errors]

Per set it prints exact top-1 accuracy (the best plate of the image equals the label),
within-one-edit top-1 accuracy, top-N hit rate (the label is among the candidates of any
plate found) and mean milliseconds per image on one core (wall clock, and CPU time of
this process, which is what matters when other processes share the cores); the last line is a JSON summary.

Ground truth formats: ``openalpr-eu/*.txt`` lines ``file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE``;
``fastplateocr-ar/annotations.csv`` with ``image_path,plate_text``. Labels are compared after
removing everything but ``A-Z0-9``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np


@dataclass(frozen=True)
class Sample:
    name: str
    image: np.ndarray
    plate: str


def clean(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _imread(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read image {path}")
    return img


def load_eu(folder: Path) -> Iterator[Sample]:
    for txt in sorted(folder.glob("*.txt")):
        for line in txt.read_text().splitlines():
            parts = line.strip().split("\t")
            if len(parts) < 6:
                continue
            yield Sample(parts[0], _imread(folder / parts[0]), clean(parts[5]))


def load_ar(folder: Path) -> Iterator[Sample]:
    with open(folder / "annotations.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            yield Sample(row["image_path"], _imread(folder / row["image_path"]), clean(row["plate_text"]))


def load_synthetic(n: int, seed: int = 7) -> Iterator[Sample] | None:
    """``n`` 1280x720 frames of the synthetic camera, each with one fully visible plate.

    Returns ``None`` when :mod:`alpr.connectors.camera.synthetic` is not available.
    """
    try:
        from alpr.connectors.camera.synthetic import SyntheticCamera
    except ImportError:
        return None
    from alpr.inference.recognizer import decode_image

    def frames() -> Iterator[Sample]:
        per_vehicle = 3
        cam = SyntheticCamera("eval", "eval", n_vehicles=max(1, -(-n // per_vehicle)), seed=seed)
        truth_by_seq: dict[int, list] = {}
        for t in cam.ground_truth():
            truth_by_seq.setdefault(t.seq, []).append(t)
        picked: list[int] = []
        for vid, rows in sorted(_by_vehicle(truth_by_seq).items()):
            rows.sort()
            step = max(1, len(rows) // per_vehicle)
            picked.extend(rows[step // 2 :: step][:per_vehicle])
        for seq in sorted(picked)[:n]:
            truths = truth_by_seq[seq]
            if len(truths) != 1:
                continue
            yield Sample(f"synthetic-{seq}", decode_image(cam.frame(seq).data), clean(truths[0].plate))

    return frames()


def _by_vehicle(truth_by_seq: dict[int, list]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for seq, truths in truth_by_seq.items():
        for t in truths:
            out.setdefault(t.vehicle_id, []).append(seq)
    return out


def evaluate(recognizer, samples: Iterable[Sample], show_errors: bool = False) -> dict:  # type: ignore[no-untyped-def]
    n = exact = near = hit = 0
    total_s = cpu_s = 0.0
    for s in samples:
        t0, c0 = time.perf_counter(), time.process_time()
        plates = recognizer.recognize(s.image)
        total_s += time.perf_counter() - t0
        cpu_s += time.process_time() - c0
        n += 1
        best = plates[0].plate if plates else ""
        exact += best == s.plate
        near += edit_distance(best, s.plate) <= 1
        hit += any(c.plate == s.plate for p in plates for c in p.candidates)
        if show_errors and best != s.plate:
            seen = [(p.plate, round(p.confidence, 1)) for p in plates[:4]]
            print(f"  MISS {s.name}: want {s.plate} got {seen}", file=sys.stderr)
    if n == 0:
        return {"images": 0}
    return {
        "images": n,
        "top1_exact": round(exact / n, 4),
        "top1_within1": round(near / n, 4),
        "topn_hit": round(hit / n, 4),
        "ms_per_image": round(1000 * total_s / n, 1),
        "cpu_ms_per_image": round(1000 * cpu_s / n, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eu", type=Path, help="openalpr-eu folder")
    ap.add_argument("--ar", type=Path, help="fastplateocr-ar folder")
    ap.add_argument("--synthetic", type=int, default=0, help="number of synthetic 720p frames (0 = skip)")
    ap.add_argument("--topn", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args(argv)

    from alpr.inference.backends import OnnxBackend
    from alpr.inference.recognizer import PlateRecognizer

    rec = PlateRecognizer(OnnxBackend(intra_op_threads=args.threads), topn=args.topn)
    rec.recognize(np.full((64, 64, 3), 128, np.uint8))  # warm-up
    summary: dict[str, dict] = {}
    sets: list[tuple[str, Iterable[Sample] | None]] = []
    if args.eu:
        sets.append(("eu", load_eu(args.eu)))
    if args.ar:
        sets.append(("ar", load_ar(args.ar)))
    if args.synthetic:
        synth = load_synthetic(args.synthetic)
        if synth is None:
            print("synthetic: skipped (alpr.connectors.camera.synthetic is not available)")
        sets.append(("synthetic", synth))
    for name, samples in sets:
        if samples is None:
            continue
        res = evaluate(rec, samples, args.show_errors)
        summary[name] = res
        print(
            f"{name:10s} images={res.get('images', 0):4d} top1={res.get('top1_exact', 0):.1%} "
            f"within1={res.get('top1_within1', 0):.1%} topN={res.get('topn_hit', 0):.1%} "
            f"ms/image={res.get('ms_per_image', 0):.1f} (cpu {res.get('cpu_ms_per_image', 0):.1f})"
        )
    print(json.dumps({"benchmark": "eval_accuracy", "threads": args.threads, "topn": args.topn, "sets": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
