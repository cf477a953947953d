"""Motion gating on a fixed camera: effective frames/s per core on a synthetic traffic stream
with empty road between vehicles, beside the per-frame figure (every frame detected).

Usage::

    .venv/bin/python benchmarks/bench_motion_gating.py [--vehicles 4] [--gap 6] [--max-frames 150]

Both runs see the same 1280x720 JPEG frames of :class:`SyntheticCamera` (5 fps, ``gap_s`` seconds
of empty road between vehicles). CPU time of this process covers JPEG decoding, the gate and
recognition; frames/s per core = frames / CPU seconds (one ONNX thread). ``vehicles_read``
counts vehicles whose plate was read exactly in at least one frame, so the gate is shown not to
lose vehicles. The last line is JSON.
"""

from __future__ import annotations

import argparse
import sys
import time

from benchlib import emit


def run(cam, seqs, rec, gate=None) -> dict:  # type: ignore[no-untyped-def]
    from alpr.inference.recognizer import decode_image

    truth: dict[int, set] = {}
    for t in cam.ground_truth():
        truth.setdefault(t.seq, set()).add((t.vehicle_id, t.plate))
    read: set = set()
    detected = 0
    c0 = time.process_time()
    for seq in seqs:
        img = decode_image(cam.frame(seq).data)
        if gate is not None and not gate.passes(img):
            continue
        detected += 1
        texts = {p.plate for p in rec.recognize(img)}
        read |= {vid for vid, plate in truth.get(seq, ()) if plate in texts}
    cpu = time.process_time() - c0
    return {"frames": len(seqs), "detected_frames": detected, "cpu_s": round(cpu, 2),
            "fps_per_core": round(len(seqs) / cpu, 2), "vehicles_read": len(read)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vehicles", type=int, default=4)
    ap.add_argument("--gap", type=float, default=6.0, help="seconds of empty road between vehicles")
    ap.add_argument("--max-frames", type=int, default=150)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)

    from alpr.connectors.camera.synthetic import SyntheticCamera
    from alpr.inference.backends import OnnxBackend
    from alpr.inference.motion import MotionGate
    from alpr.inference.recognizer import PlateRecognizer

    cam = SyntheticCamera("bench", "bench", n_vehicles=args.vehicles, seed=args.seed, gap_s=args.gap)
    seqs = list(range(min(len(cam), args.max_frames)))
    vehicles = len({t.vehicle_id for t in cam.ground_truth() if t.seq < len(seqs)})
    rec = PlateRecognizer(OnnxBackend(intra_op_threads=1))
    run(cam, seqs[:2], rec)  # warm-up
    every = run(cam, seqs, rec)
    gate = MotionGate()
    gated = run(cam, seqs, rec, gate)
    for name, r in (("every frame", every), ("motion-gated", gated)):
        print(f"{name:13s} frames={r['frames']} detected={r['detected_frames']} cpu={r['cpu_s']} s "
              f"-> {r['fps_per_core']} frames/s per core; vehicles read {r['vehicles_read']}/{vehicles}")
    emit("bench_motion_gating", vehicles=vehicles, gap_s=args.gap, every_frame=every, gated=gated,
         speedup=round(gated["fps_per_core"] / every["fps_per_core"], 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
