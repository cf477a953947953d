"""Plate-recognition accuracy on labelled image sets.

Usage::

    .venv/bin/python benchmarks/eval_accuracy.py            # every set found under ../shared/data
    .venv/bin/python benchmarks/eval_accuracy.py --data DIR --sets us-crops,stills \
        [--half even|odd] [--limit N] [--synthetic 60] [--show-errors] [--out FILE]

Sets: ``us-crops`` (``openalpr-us-crops``), ``stills`` (``ucsd-stills-ca``, whole cars), ``eu``
(``openalpr-eu``), ``ar`` (``fastplateocr-ar``), ``synthetic`` (synthetic 720p camera frames)
and ``synthetic-us`` (``--synthetic`` hard US scenes at 720p: plates with separators and
emblems, stickers, dealer frames and stacked type codes, among road signs, shop signs and
bumper stickers, lit day, night, infrared and glare in turn; the label is the registration
only; see ``alpr.connectors.camera.us_scenes``). The synthetic sets are rendered from a fixed
seed, never used to fit the recogniser: they test the whole pipeline.
A set whose folder is absent is skipped with a note. ``--half even|odd`` keeps every other
image (tune on one half, check on the other).

Per set it prints exact top-1 accuracy (the best plate of the image equals the label),
within-one-edit top-1 accuracy, top-N hit rate (the label is among the candidates of any
plate found), the state guessed right (sets with a state column), false plates per image
(plates returned besides the one that matches; on ``synthetic-us`` also per lighting mode and per
hard feature, ``per_tag``) and mean milliseconds per image on one core (wall
clock, and CPU time of this process, which is what matters when other processes share the
cores); the last line is a JSON summary, also written to ``--out`` (stable shape:
``{"benchmark", "model", "sets": {name: {...}}}``).

Ground truth formats: ``openalpr-eu/*.txt`` lines ``file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE``;
``annotations.csv`` with ``image_path,plate_text[,state]`` for the others. Labels are
compared after removing everything but ``A-Z0-9``.
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


REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
SET_FOLDERS = {"us-crops": "openalpr-us-crops", "stills": "ucsd-stills-ca", "eu": "openalpr-eu",
               "ar": "fastplateocr-ar"}


@dataclass(frozen=True)
class Sample:
    name: str
    image: np.ndarray
    plate: str
    state: str = ""
    tags: tuple[str, ...] = ()  # conditions reported separately (synthetic-us: lighting, plate features)


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
    yield from load_csv(folder)


def load_csv(folder: Path) -> Iterator[Sample]:
    """``annotations.csv`` with ``image_path,plate_text[,state]`` (AR crops, US crops, stills)."""
    with open(folder / "annotations.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            state = (row.get("state") or "").strip().upper()
            yield Sample(row["image_path"], _imread(folder / row["image_path"]), clean(row["plate_text"]),
                         state if len(state) == 2 else "")


def count_samples(name: str, folder: Path) -> int:
    if name == "eu":
        return sum(1 for t in folder.glob("*.txt") for ln in t.read_text().splitlines() if ln.count("\t") >= 5)
    with open(folder / "annotations.csv", newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def subset(samples: Iterable[Sample], half: str | None, limit: int | None) -> Iterator[Sample]:
    """Every other sample (``even``/``odd``) and at most ``limit`` of them."""
    n = 0
    for i, s in enumerate(samples):
        if half == "even" and i % 2:
            continue
        if half == "odd" and not i % 2:
            continue
        if limit is not None and n >= limit:
            return
        n += 1
        yield s


def load_synthetic(n: int, seed: int = 7, us: bool = False) -> Iterator[Sample] | None:
    """``n`` 1280x720 frames of the synthetic camera, each with one fully visible plate
    (``us``: US plate designs in scenes with distractor text).

    Returns ``None`` when :mod:`alpr.connectors.camera.synthetic` is not available.
    """
    try:
        from alpr.connectors.camera.synthetic import SyntheticCamera
    except ImportError:
        return None
    if us:
        try:
            from alpr.connectors.camera.us_scenes import us_scene_samples
        except ImportError:
            return None
        return (Sample(s.name, s.image, clean(s.plate), s.state, s.tags) for s in us_scene_samples(n, seed))
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


def _progress(total: int | None, label: str):  # type: ignore[no-untyped-def]
    """A rich progress bar on stderr (a no-op context when rich is missing or output is not a tty)."""
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:  # pragma: no cover - rich is a dependency
        return None
    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    prog = Progress(TextColumn(f"{label:10s}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)
    return prog, prog.add_task(label, total=total)


def evaluate(recognizer, samples: Iterable[Sample], show_errors: bool = False,  # type: ignore[no-untyped-def]
             total: int | None = None, label: str = "", misses: list | None = None) -> dict:
    n = exact = near = hit = 0
    with_state = state_right = false_plates = 0
    per_state: dict[str, list[int]] = {}
    per_tag: dict[str, list[int]] = {}
    total_s = cpu_s = 0.0
    bar = _progress(total, label) if label else None
    if bar:
        bar[0].start()
    try:
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
            false_here = sum(1 for p in plates if edit_distance(p.plate, s.plate) > 1)
            false_plates += false_here
            for tag in s.tags:
                tally = per_tag.setdefault(tag, [0, 0, 0])
                tally[0] += 1
                tally[1] += best == s.plate
                tally[2] += false_here
            if s.state:
                tally = per_state.setdefault(s.state, [0, 0])
                tally[0] += 1
                tally[1] += best == s.plate
                with_state += 1
                state_right += bool(plates) and getattr(plates[0], "region", "") == "us-" + s.state.lower()
            if best != s.plate:
                seen = [(p.plate, round(p.confidence, 1), getattr(p, "region", "")) for p in plates[:4]]
                if misses is not None:
                    misses.append({"image": s.name, "want": s.plate, "state": s.state, "got": seen,
                                   "candidates": [c.plate for p in plates[:2] for c in p.candidates[:5]]})
                if show_errors:
                    print(f"  MISS {s.name}: want {s.plate} got {seen}", file=sys.stderr)
            if bar:
                bar[0].advance(bar[1])
    finally:
        if bar:
            bar[0].stop()
    if n == 0:
        return {"images": 0}
    out = {
        "images": n,
        "top1_exact": round(exact / n, 4),
        "top1_exact_count": exact,
        "top1_within1": round(near / n, 4),
        "topn_hit": round(hit / n, 4),
        "false_plates_per_image": round(false_plates / n, 4),
        "ms_per_image": round(1000 * total_s / n, 1),
        "cpu_ms_per_image": round(1000 * cpu_s / n, 1),
    }
    if per_tag:  # lighting modes first, then the plate/scene features
        light = ("day", "night", "ir", "glare")
        order = sorted(per_tag, key=lambda t: (light.index(t) if t in light else len(light), t))
        out["per_tag"] = {t: {"images": per_tag[t][0], "top1_exact": round(per_tag[t][1] / per_tag[t][0], 4),
                              "false_plates_per_image": round(per_tag[t][2] / per_tag[t][0], 4)} for t in order}
    if with_state:
        out["state_right"] = round(state_right / with_state, 4)
        out["per_state"] = {st: {"images": n_, "top1_exact": round(ok / n_, 4)} for st, (n_, ok) in sorted(per_state.items())}
    return out


def model_info(recognizer) -> dict:  # type: ignore[no-untyped-def]
    """Model names and checksums of the recogniser's backend (provenance of every figure)."""
    prov = getattr(recognizer, "provenance", None)
    return dict(prov()) if callable(prov) else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the data sets")
    ap.add_argument("--sets", default="us-crops,stills,eu,ar,synthetic,synthetic-us",
                    help="comma-separated: us-crops, stills, eu, ar, synthetic, synthetic-us")
    ap.add_argument("--eu", type=Path, help="openalpr-eu folder (overrides --data)")
    ap.add_argument("--ar", type=Path, help="fastplateocr-ar folder (overrides --data)")
    ap.add_argument("--us-crops", type=Path, help="openalpr-us-crops folder (overrides --data)")
    ap.add_argument("--stills", type=Path, help="ucsd-stills-ca folder (overrides --data)")
    ap.add_argument("--synthetic", type=int, default=60, help="number of synthetic 720p frames (0 = skip)")
    ap.add_argument("--half", choices=("even", "odd"), help="every other image only (tune/check split)")
    ap.add_argument("--limit", type=int, help="at most this many images per set")
    ap.add_argument("--country", help="country hint passed to the recogniser (e.g. us)")
    ap.add_argument("--state", help="state hint passed to the recogniser (e.g. ca)")
    ap.add_argument("--topn", type=int, default=10)
    ap.add_argument("--det-long-side", type=int, help="detector input long side (default: the recogniser's)")
    ap.add_argument("--fine-long-side", type=int,
                    help="long side of the second, finer detector pass where the first found no sure plate (0 = off)")
    ap.add_argument("--model-dir", type=Path, help="folder holding det.onnx and rec.onnx (default: the vendored models)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--misses", type=Path, help="write every miss (want/got/candidates) to this JSON file")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "eval_accuracy.json",
                    help="JSON summary file ('-' = do not write)")
    args = ap.parse_args(argv)

    from alpr.inference.backends import OnnxBackend
    from alpr.inference.recognizer import PlateRecognizer

    kwargs = {}
    if args.country or args.state:
        kwargs = {"country": args.country, "state": args.state}
    if args.det_long_side:
        kwargs["det_long_side"] = args.det_long_side
    if args.fine_long_side is not None:
        kwargs["fine_long_side"] = args.fine_long_side
    rec = PlateRecognizer(OnnxBackend(args.model_dir, intra_op_threads=args.threads), topn=args.topn, **kwargs)
    rec.recognize(np.full((64, 64, 3), 128, np.uint8))  # warm-up
    wanted = [w.strip() for w in args.sets.split(",") if w.strip()]
    overrides = {"eu": args.eu, "ar": args.ar, "us-crops": args.us_crops, "stills": args.stills}
    summary: dict[str, dict] = {}
    notes: list[str] = []
    all_misses: dict[str, list] = {}
    for name in wanted:
        total: int | None = None
        if name in SET_FOLDERS:
            folder = overrides[name] or args.data / SET_FOLDERS[name]
            if not folder.is_dir():
                notes.append(f"{name}: skipped ({folder} is absent)")
                print(notes[-1])
                continue
            samples: Iterable[Sample] | None = load_eu(folder) if name == "eu" else load_csv(folder)
            total = count_samples(name, folder)
            if args.half:
                total = (total + (args.half == "even")) // 2
        elif name in ("synthetic", "synthetic-us"):
            if not args.synthetic:
                continue
            samples = load_synthetic(args.synthetic, us=name == "synthetic-us")
            total = args.synthetic
            if samples is None:
                notes.append(f"{name}: skipped (the synthetic camera cannot render it)")
                print(notes[-1])
                continue
        else:
            raise SystemExit(f"unknown set {name!r}")
        if args.limit:
            total = min(total or args.limit, args.limit)
        misses: list = []
        res = evaluate(rec, subset(samples, args.half, args.limit), args.show_errors, total, name, misses)
        summary[name] = res
        all_misses[name] = misses
        state = f" state={res['state_right']:.1%}" if "state_right" in res else ""
        print(
            f"{name:12s} images={res.get('images', 0):4d} top1={res.get('top1_exact', 0):.1%} "
            f"within1={res.get('top1_within1', 0):.1%} topN={res.get('topn_hit', 0):.1%}{state} "
            f"false/img={res.get('false_plates_per_image', 0):.2f} "
            f"ms/image={res.get('ms_per_image', 0):.1f} (cpu {res.get('cpu_ms_per_image', 0):.1f})"
        )
        for tag, r in (res.get("per_tag") or {}).items():
            print(f"  {tag:16s} images={r['images']:4d} top1={r['top1_exact']:.1%} "
                  f"false/img={r['false_plates_per_image']:.2f}")
    out = {"benchmark": "eval_accuracy", "threads": args.threads, "topn": args.topn, "half": args.half,
           "limit": args.limit, "hints": kwargs, "model": model_info(rec), "sets": summary, "notes": notes,
           "command": "benchmarks/eval_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if args.misses:
        args.misses.write_text(json.dumps(all_misses, indent=1))
    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        from plots import try_plots  # accuracy per set (and per state) beside the JSON

        try_plots(args.out)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
