"""Recogniser speed per frame on one core: ``PlateRecognizer`` vs the bare ONNX Runtime loop.

Usage::

    .venv/bin/python benchmarks/bench_recognizer.py [--frames 20] [--threads 1] [--eu DIR]

Frames are 1280x720 and 1920x1080 frames of the synthetic camera
(:mod:`alpr.connectors.camera.synthetic`), each with one plate in view; without it, a real
EU photo (``--eu``) or a drawn plate is pasted into a grey canvas. The bare loop runs only
the two sessions on the same frames: the detector on the same input size our recogniser
uses and the recogniser on one 48x320 line, so the difference is our pre/post-processing
and the extra line crops we read. Milliseconds are CPU time of this process (robust when
other processes share the cores) and wall clock; the two are timed frame by frame in
alternation, so load changes on a shared machine hit both alike. Frames/s per core =
1000 / CPU ms per frame (intra-op threads = 1). Target: >= 10 frames/s per core at 720p
(OpenALPR commercial quotes ~9-11). The last line is JSON.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from benchlib import emit


def synthetic_frames(width: int, height: int, n: int, seed: int = 11) -> list[tuple[np.ndarray, str]] | None:
    try:
        from alpr.connectors.camera.synthetic import SyntheticCamera
    except ImportError:
        return None
    from alpr.inference.recognizer import decode_image

    cam = SyntheticCamera("bench", "bench", n_vehicles=max(1, n // 2), seed=seed, width=width, height=height)
    truth: dict[int, list] = {}
    for t in cam.ground_truth():
        truth.setdefault(t.seq, []).append(t)
    seqs = sorted(s for s, ts in truth.items() if len(ts) == 1)
    step = max(1, len(seqs) // n)
    return [(decode_image(cam.frame(s).data), truth[s][0].plate) for s in seqs[::step][:n]]


def pasted_frames(width: int, height: int, n: int, eu: Path | None) -> list[tuple[np.ndarray, str]]:
    photos: list[tuple[np.ndarray, str]] = []
    if eu is not None and eu.is_dir():
        for txt in sorted(eu.glob("*.txt"))[:n]:
            parts = txt.read_text().split("\t")
            img = cv2.imread(str(eu / parts[0]))
            if img is not None:
                photos.append((img, parts[5].strip()))
    if not photos:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from inference_helpers import plate_image

        photos = [(plate_image("7ABC123", 240), "7ABC123")]
    frames = []
    for i in range(n):
        photo, plate = photos[i % len(photos)]
        canvas = np.full((height, width, 3), 110, np.uint8)
        scale = min(1.0, 0.6 * width / photo.shape[1], 0.6 * height / photo.shape[0])
        p = cv2.resize(photo, None, fx=scale, fy=scale) if scale < 1 else photo
        y, x = (height - p.shape[0]) // 2, (width - p.shape[1]) // 2
        canvas[y : y + p.shape[0], x : x + p.shape[1]] = p
        frames.append((canvas, plate))
    return frames


def timed_pair(ours: Callable[[np.ndarray], object], bare: Callable[[np.ndarray], object],
               frames: list[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Mean (cpu ms, wall ms) per frame of ``ours`` and ``bare``, interleaved frame by frame."""
    ours(frames[0]), bare(frames[0])  # warm-up
    acc: dict[str, tuple[list, list]] = {"ours": ([], []), "bare": ([], [])}
    for f in frames:
        for name, fn in (("ours", ours), ("bare", bare)):
            c0, w0 = time.process_time(), time.perf_counter()
            fn(f)
            acc[name][0].append(time.process_time() - c0)
            acc[name][1].append(time.perf_counter() - w0)
    mean = lambda xs: 1000 * statistics.mean(xs)  # noqa: E731
    return ((mean(acc["ours"][0]), mean(acc["ours"][1])), (mean(acc["bare"][0]), mean(acc["bare"][1])))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eu", type=Path, default=None, help="openalpr-eu folder for pasted frames")
    args = ap.parse_args(argv)

    from alpr.inference import geometry as geo
    from alpr.inference.backends import OnnxBackend
    from alpr.inference.recognizer import PlateRecognizer

    backend = OnnxBackend(intra_op_threads=args.threads)
    rec = PlateRecognizer(backend)
    line = np.zeros((1, 3, geo.REC_HEIGHT, 320), np.float32)

    def bare(frame: np.ndarray) -> None:
        size = geo.det_size(frame.shape[0], frame.shape[1], rec.det_long_side, rec.det_max_upscale)
        backend.detect(geo.det_input(frame, size)[None])
        backend.recognize(line)

    results: dict[str, dict] = {}
    for name, (w, h) in {"720p": (1280, 720), "1080p": (1920, 1080)}.items():
        data = synthetic_frames(w, h, args.frames)
        source = "synthetic"
        if not data:
            data, source = pasted_frames(w, h, args.frames, args.eu), "pasted"
        frames = [f for f, _ in data]
        (ours_cpu, ours_wall), (bare_cpu, bare_wall) = timed_pair(rec.recognize, bare, frames)
        reads = [rec.recognize(f) for f in frames]
        correct = sum(bool(r) and r[0].plate == p.replace(" ", "") for r, (_, p) in zip(reads, data))
        results[name] = {
            "frames": len(frames),
            "source": source,
            "recognizer_cpu_ms": round(ours_cpu, 1),
            "recognizer_wall_ms": round(ours_wall, 1),
            "bare_ort_cpu_ms": round(bare_cpu, 1),
            "bare_ort_wall_ms": round(bare_wall, 1),
            "fps_per_core": round(1000 / ours_cpu, 2),
            "fps_wall": round(1000 / ours_wall, 2),
            "bare_ort_fps_per_core": round(1000 / bare_cpu, 2),
            "bare_ort_fps_wall": round(1000 / bare_wall, 2),
            "ratio_vs_bare_cpu": round(ours_cpu / bare_cpu, 3),
            "top1_correct": correct,
        }
        print(
            f"{name:6s} {source:9s} frames={len(frames):3d} recognizer={ours_cpu:6.1f} ms cpu "
            f"({ours_wall:6.1f} wall)  bare ORT={bare_cpu:6.1f} ms cpu ({bare_wall:6.1f} wall)  "
            f"top1 correct {correct}/{len(frames)}  -> {1000 / ours_cpu:.1f} frames/s per core "
            f"(bare {1000 / bare_cpu:.1f})"
        )
    emit("bench_recognizer", threads=args.threads, results=results,
         targets={"fps_per_core_720p": 10.0})
    return 0


if __name__ == "__main__":
    sys.exit(main())
