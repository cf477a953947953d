"""Inference throughput vs batch size: in-process ONNX Runtime and through the v2 inference server.

Usage::

    .venv/bin/python benchmarks/bench_batching.py [--frames 64] [--batch-sizes 1,4,16,64]
        [--width 1280 --height 720] [--triton 127.0.0.1:18111 --triton-pid-file RUN/triton/triton.pid]

The same decoded synthetic frames go through ``PlateRecognizer.recognize_batch`` in chunks of
each batch size: first with the in-process ``OnnxBackend`` (intra-op threads = 1), then, with
``--triton``, with ``TritonBackend`` against a running tritonserver (``infra/services.sh up
triton``). Throughput is frames per second of wall clock and frames per CPU-second; for Triton
the CPU time is this client process plus the tritonserver process tree (its python-backend
stubs run onnxruntime), read from /proc when ``--triton-pid-file`` is given. Baselines in the
same run: batch size 1 of the same backend, and for Triton the in-process backend at the same
batch size. The last line is JSON.
"""

from __future__ import annotations

import argparse
import sys
import time

from benchlib import add_service_args, decoded_frames, emit, proc_tree_cpu_s, ratio, read_pid


def measure(rec, frames, batch: int, server_pid=None) -> dict:
    rec.recognize_batch(frames[:min(batch, 4)])  # warm-up (sessions, gRPC channel)
    s0 = proc_tree_cpu_s(server_pid) if server_pid else 0.0
    c0, w0 = time.process_time(), time.perf_counter()
    plates = 0
    for i in range(0, len(frames), batch):
        plates += sum(len(p) for p in rec.recognize_batch(frames[i:i + batch]))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    server_cpu = (proc_tree_cpu_s(server_pid) - s0) if server_pid else 0.0
    total_cpu = cpu + server_cpu
    return {"batch": batch, "frames": len(frames), "plates": plates,
            "fps_wall": round(len(frames) / wall, 2), "fps_per_core": round(len(frames) / total_cpu, 2),
            "client_cpu_s": round(cpu, 2), "server_cpu_s": round(server_cpu, 2), "wall_s": round(wall, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=64, help="frames per batch size (raised to the largest batch)")
    ap.add_argument("--batch-sizes", default="1,4,16,64")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--threads", type=int, default=1)
    add_service_args(ap, triton=True)
    a = ap.parse_args(argv)
    sizes = [int(x) for x in a.batch_sizes.split(",") if x.strip()]
    if not sizes or min(sizes) < 1:
        ap.error("--batch-sizes must be positive integers")

    from alpr.inference.backends import OnnxBackend
    from alpr.inference.recognizer import PlateRecognizer

    frames = decoded_frames(a.width, a.height, max(a.frames, max(sizes)))
    onnx = PlateRecognizer(OnnxBackend(intra_op_threads=a.threads))
    out: dict = {"frames": len(frames), "resolution": f"{a.width}x{a.height}", "threads": a.threads,
                 "batch_sizes": sizes}
    inproc = []
    for b in sizes:
        r = measure(onnx, frames, b)
        inproc.append(r)
        print(f"in-process onnx  batch {b:3d}: {r['fps_wall']:6.2f} frames/s wall, "
              f"{r['fps_per_core']:6.2f} frames/s per core")
    base = inproc[0]
    for r in inproc:
        r["speedup_vs_batch1_per_core"] = ratio(r["fps_per_core"], base["fps_per_core"])
        r["speedup_vs_batch1_wall"] = ratio(r["fps_wall"], base["fps_wall"])
    out["inprocess"] = inproc

    if a.triton:
        from alpr.inference.triton_backend import TritonBackend

        pid = read_pid(a.triton_pid_file)
        tb = TritonBackend(url=a.triton)
        trec = PlateRecognizer(tb)
        served = []
        for b, ref in zip(sizes, inproc):
            r = measure(trec, frames, b, pid)
            r["vs_inprocess_same_batch_wall"] = ratio(r["fps_wall"], ref["fps_wall"])
            r["vs_inprocess_same_batch_per_core"] = ratio(r["fps_per_core"], ref["fps_per_core"]) if pid else None
            served.append(r)
            print(f"triton (grpc)    batch {b:3d}: {r['fps_wall']:6.2f} frames/s wall, "
                  + (f"{r['fps_per_core']:6.2f} frames/s per core (client+server CPU)" if pid else "server CPU not read"))
        for r in served:
            r["speedup_vs_batch1_wall"] = ratio(r["fps_wall"], served[0]["fps_wall"])
        out["triton"] = served
        out["triton_server_cpu_counted"] = pid is not None
        out["triton_note"] = ("plate_det/plate_rec: python backend running onnxruntime, max_batch_size 8 "
                              "(larger client batches are split), INTRA_OP_THREADS 2")
    else:
        out["triton"] = None
        out["triton_note"] = "not measured: no --triton endpoint (run_all.py --services starts tritonserver)"
    emit("bench_batching", **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
