"""Bytes on the wire per frame to Triton: encoded frames (``plate_read``) against float tensors
(``plate_det`` + ``plate_rec``), same frames, same server, same run.

Usage::

    .venv/bin/python benchmarks/bench_triton_wire.py [--frames 16] [--batch 8] [--width 1280 --height 720]
        [--triton H:P --triton-pid-file F]

Without ``--triton`` it takes the services lock (``/tmp/alpr-services.lock``) and starts
tritonserver on free ports (``infra/services.sh up triton``), then stops it. The clients reach
the server through a counting TCP relay on loopback, so the figures are the gRPC (HTTP/2) bytes
in each direction, framing and headers included, not tensor sizes:

* ``tensors``: ``PlateRecognizer(TritonBackend)`` (``inference: triton://``): the client decodes,
  resizes and crops; detector and recogniser tensors (float32) go up, their outputs come down.
* ``frames``: ``TritonFrameRecognizer`` (``inference: triton+frames://``): the JPEG bytes go up,
  one JSON document per frame comes down; the server decodes, resizes and reads.

Both read the frames in batches of ``--batch`` after one warm-up batch (not counted). Also per
frame: wall time, client CPU and (with a pid file) server CPU, and whether the two paths read the
same plates. The last line is JSON.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import add_service_args, emit, proc_tree_cpu_s, read_pid, running_services, services_lock


class Relay:
    """Loopback TCP relay to ``upstream`` that counts the bytes each way."""

    def __init__(self, upstream: str):
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.up = self.down = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            for a, b, attr in ((conn, upstream, "up"), (upstream, conn, "down")):
                threading.Thread(target=self._pump, args=(a, b, attr), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, attr: str) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                with self._lock:
                    setattr(self, attr, getattr(self, attr) + len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.up, self.down

    def close(self) -> None:
        self._sock.close()


def encoded_frames(width: int, height: int, n: int, seed: int = 11) -> list[bytes]:
    """``n`` JPEG frames of a synthetic camera, each with a vehicle in view."""
    from alpr.connectors.camera.synthetic import SyntheticCamera

    cam = SyntheticCamera("bench", "bench", n_vehicles=max(1, n // 8), seed=seed, width=width, height=height)
    seqs = sorted({t.seq for t in cam.ground_truth()})
    if not seqs:
        raise RuntimeError("synthetic camera produced no frame with a plate")
    return [cam.frame(seqs[i % len(seqs)]).data for i in range(n)]


def measure(name: str, read, frames: list[bytes], batch: int, relay: Relay, server_pid) -> tuple[dict, list]:
    read(frames[:batch])  # warm-up: channel, model config, sessions
    up0, down0 = relay.counts()
    s0 = proc_tree_cpu_s(server_pid) if server_pid else 0.0
    c0, w0 = time.process_time(), time.perf_counter()
    plates: list = []
    for i in range(0, len(frames), batch):
        plates += read(frames[i:i + batch])
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    time.sleep(0.2)  # let the relay threads count the last bytes
    up, down = (x - y for x, y in zip(relay.counts(), (up0, down0)))
    n = len(frames)
    out = {"up_bytes_per_frame": round(up / n), "down_bytes_per_frame": round(down / n),
           "bytes_per_frame": round((up + down) / n), "wall_ms_per_frame": round(1000 * wall / n, 1),
           "client_cpu_ms_per_frame": round(1000 * cpu / n, 1),
           "plates": sum(len(p) for p in plates)}
    if server_pid:
        out["server_cpu_ms_per_frame"] = round(1000 * (proc_tree_cpu_s(server_pid) - s0) / n, 1)
    print(f"{name}: {out}", file=sys.stderr, flush=True)
    return out, [[p.plate for p in ps] for ps in plates]


def run(a, url: str, pid_file) -> dict:
    from alpr.inference.recognizer import PlateRecognizer, decode_image
    from alpr.inference.triton_backend import TritonBackend
    from alpr.inference.triton_frames import TritonFrameRecognizer

    frames = encoded_frames(a.width, a.height, a.frames)
    pid = read_pid(pid_file)
    relay = Relay(url)
    tensors = PlateRecognizer(TritonBackend(url=relay.url, timeout_s=120))
    remote = TritonFrameRecognizer(relay.url, timeout_s=120)
    try:
        t, t_plates = measure("tensors", lambda fs: tensors.recognize_batch([decode_image(f) for f in fs]),
                              frames, a.batch, relay, pid)
        f, f_plates = measure("frames", lambda fs: [r.plates for r in remote.read_frames(fs)],
                              frames, a.batch, relay, pid)
    finally:
        tensors.backend.close()
        remote.close()
        relay.close()
    jpeg = sum(len(x) for x in frames) / len(frames)
    return {"frames": len(frames), "batch": a.batch, "resolution": f"{a.width}x{a.height}",
            "jpeg_bytes_per_frame": round(jpeg), "tensors": t, "frames_path": f,
            "wire_ratio": round(t["bytes_per_frame"] / f["bytes_per_frame"], 1),
            "same_plates": t_plates == f_plates,
            "note": "gRPC bytes both ways through a loopback relay; tensors = inference triton://, "
                    "frames_path = inference triton+frames:// (plate_read)"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    add_service_args(ap, triton=True)
    a = ap.parse_args(argv)
    if a.frames < 1 or a.batch < 1:
        ap.error("--frames and --batch must be >= 1")
    if a.triton:
        out = run(a, a.triton, a.triton_pid_file)
    else:
        with services_lock(), tempfile.TemporaryDirectory(prefix="alpr-bench-wire-") as d, \
                running_services(["triton"], Path(d), log=lambda m: print(m, file=sys.stderr)) as ep:
            out = run(a, ep.triton, ep.triton_pid_file)
    emit("triton_wire", **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
