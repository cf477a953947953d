"""Shared plumbing for the benchmarks: timers, the one-JSON-line result, synthetic inputs,
and starting the real services (inside the machine-wide services lock).

Every benchmark prints human-readable lines first and ONE JSON object as its LAST line;
``run_all.py`` collects that line. Common keys: ``benchmark`` (name), ``machine``
(cores, load average, date) and the benchmark's figures, each next to its baseline from
the same run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
SERVICES_SH = REPO / "infra" / "services.sh"
SERVICES_LOCK = Path(os.environ.get("ALPR_SERVICES_LOCK", "/tmp/alpr-services.lock"))
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- output
def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": sys.version.split()[0],
    }


def emit(benchmark: str, **figures) -> dict:
    """Print the result as ONE JSON line (the last line of the benchmark's output)."""
    out = {"benchmark": benchmark, **figures, "machine": machine()}
    print(json.dumps(out, default=_plain), flush=True)
    return out


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def last_json_line(text: str) -> dict:
    """The last line of ``text`` that parses as a JSON object (what ``emit`` printed)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise ValueError("no JSON object line in the benchmark output")


def ratio(a: float, b: float, digits: int = 3) -> Optional[float]:
    return round(a / b, digits) if b else None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    xs = sorted(values)
    k = max(0, min(len(xs) - 1, math.ceil(q / 100 * len(xs)) - 1))
    return xs[k]


# --------------------------------------------------------------------------- timing
@dataclass
class Timing:
    wall_s: float
    cpu_s: float  # CPU time of this process (all threads)
    n: int

    @property
    def per_s_wall(self) -> float:
        return self.n / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def per_s_cpu(self) -> float:
        """Throughput per core: items per CPU-second of this process."""
        return self.n / self.cpu_s if self.cpu_s > 0 else 0.0


@contextlib.contextmanager
def stopwatch() -> Iterator[dict]:
    """``with stopwatch() as t: ...`` then ``t["wall"]``, ``t["cpu"]`` (seconds)."""
    t: dict = {}
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        t["wall"] = time.perf_counter() - w0
        t["cpu"] = time.process_time() - c0


def alternate(runs: dict[str, Callable[[], Timing]], rounds: int) -> dict[str, Timing]:
    """Run each candidate ``rounds`` times, interleaved (A B A B ...), so load changes on a
    shared machine hit both alike; returns per candidate the median round (by CPU time)."""
    got: dict[str, list[Timing]] = {k: [] for k in runs}
    for _ in range(max(1, rounds)):
        for name, fn in runs.items():
            got[name].append(fn())
    return {k: sorted(v, key=lambda t: t.cpu_s)[len(v) // 2] for k, v in got.items()}


def proc_tree_cpu_s(root_pid: int) -> float:
    """utime+stime (seconds) of a process and all its descendants (e.g. tritonserver and its
    python-backend stubs), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        parents[int(d.name)] = int(rest[1])
        cpu[int(d.name)] = (int(rest[11]) + int(rest[12])) / tick
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(cpu.get(p, 0.0) for p in tree)


# --------------------------------------------------------------------------- inputs
def synthetic_clip(width: int, height: int, n_vehicles: int, seed: int = 11, camera_id: str = "bench",
                   agency: str = "BENCH"):
    """(camera, frames): a deterministic synthetic camera and its encoded frames."""
    from alpr.connectors.camera.synthetic import SyntheticCamera

    cam = SyntheticCamera(camera_id, agency, n_vehicles=n_vehicles, seed=seed, width=width, height=height)
    return cam, list(cam.frames())


def decoded_frames(width: int, height: int, n: int, seed: int = 11) -> list:
    """``n`` decoded BGR frames with exactly one plate in view (synthetic camera)."""
    from alpr.connectors.camera.synthetic import SyntheticCamera
    from alpr.inference.recognizer import decode_image

    cam = SyntheticCamera("bench", "bench", n_vehicles=max(1, n // 4), seed=seed, width=width, height=height)
    truth: dict[int, int] = {}
    for t in cam.ground_truth():
        truth[t.seq] = truth.get(t.seq, 0) + 1
    seqs = sorted(s for s, c in truth.items() if c == 1)
    if not seqs:
        raise RuntimeError("synthetic camera produced no frame with a plate")
    return [decode_image(cam.frame(seqs[i % len(seqs)]).data) for i in range(n)]


# --------------------------------------------------------------------------- services
# the same helpers the test fixtures use (tests/services.py), not a copy of them
sys.path.insert(0, str(REPO / "tests"))
from services import free_ports, versions_env  # noqa: E402


PORT_VARS = {
    "kafka": ["KAFKA_PORT", "KAFKA_CONTROLLER_PORT"],
    "cassandra": ["CASSANDRA_CQL_PORT", "CASSANDRA_STORAGE_PORT"],
    "triton": ["TRITON_HTTP_PORT", "TRITON_GRPC_PORT", "TRITON_METRICS_PORT"],
}


@dataclass(frozen=True)
class Endpoints:
    run_dir: str
    ports: dict

    @property
    def kafka(self) -> str:
        return f"{HOST}:{self.ports['KAFKA_PORT']}"

    @property
    def cassandra(self) -> str:
        return f"{HOST}:{self.ports['CASSANDRA_CQL_PORT']}"

    @property
    def triton(self) -> str:
        return f"{HOST}:{self.ports['TRITON_GRPC_PORT']}"

    @property
    def triton_pid_file(self) -> str:
        return str(Path(self.run_dir) / "triton" / "triton.pid")

    def args(self, services: Sequence[str]) -> list[str]:
        """Command-line flags a service benchmark takes for these endpoints."""
        out = []
        if "kafka" in services:
            out += ["--kafka", self.kafka]
        if "cassandra" in services:
            out += ["--cassandra", self.cassandra, "--keyspace", versions_env()["CASSANDRA_KEYSPACE"]]
        if "triton" in services:
            out += ["--triton", self.triton, "--triton-pid-file", self.triton_pid_file]
        return out


def lock_held_by_ancestor(path: Path = SERVICES_LOCK) -> bool:
    """Whether a parent process is ``flock <path> ...`` (i.e. we already run under the lock)."""
    pid = os.getppid()
    while pid > 1:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if argv and os.path.basename(argv[0].decode(errors="replace")) == "flock" \
                and str(path).encode() in argv[1:]:
            return True
        pid = int(stat[stat.rfind(")") + 2:].split()[1])
    return False


@contextlib.contextmanager
def services_lock(timeout_s: float = 1800) -> Iterator[None]:
    """The machine-wide lock (same file and flock(2) semantics as ``flock /tmp/alpr-services.lock``):
    only one process at a time may start the Java services / Triton. Re-entrant for a process
    started under ``flock /tmp/alpr-services.lock ...`` (the lock is then already ours)."""
    if lock_held_by_ancestor():
        yield
        return
    fh = open(SERVICES_LOCK, "a+")
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"services lock {SERVICES_LOCK} still held after {timeout_s:.0f}s")
                time.sleep(2)
        yield
    finally:
        fh.close()  # releases the lock


def run_service_benchmark(script: Path, test_name: str, args_env: str, argv: Sequence[str], timeout_s: int) -> int:
    """Run ``script::test_name`` under pytest with the services fixtures (tests/services.py), inside
    the services lock, with ``argv`` passed in ``$args_env`` (JSON); prints the tail of its output."""
    repo = script.resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo / "tests"), str(script.resolve().parent)]),
               **{args_env: json.dumps(list(argv))})
    with services_lock():
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "services",
                               "--rootdir", str(repo), "-c", str(repo / "pytest.ini"), "-o", f"timeout={timeout_s}",
                               f"{script.resolve()}::{test_name}"],
                              cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(proc.stdout[-8000:])
    if proc.returncode != 0:
        print(f"{script.name}: pytest rc={proc.returncode}", file=sys.stderr)
    return proc.returncode


@contextlib.contextmanager
def running_services(names: Sequence[str], run_dir: Path, up_timeout_s: float = 600,
                     log=print) -> Iterator[Endpoints]:
    """Start ``names`` with infra/services.sh on free ports in ``run_dir`` and stop them all
    afterwards (also on error). Take :func:`services_lock` around this."""
    ports: dict[str, int] = {}
    for name in names:
        ports.update(zip(PORT_VARS[name], free_ports(len(PORT_VARS[name]))))
    env = dict(os.environ, ALPR_RUN=str(run_dir), ALPR_PYTHON=sys.executable,
               **{k: str(v) for k, v in ports.items()})
    run_dir.mkdir(parents=True, exist_ok=True)
    logfile = run_dir / "services.log"
    started: list[str] = []

    def sh(action: str, name: str, timeout: float) -> None:
        with open(logfile, "a") as fh:
            rc = subprocess.run(["bash", str(SERVICES_SH), action, name], env=env, stdout=fh,
                                stderr=subprocess.STDOUT, timeout=timeout, check=False).returncode
        if rc != 0:
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"services.sh {action} {name} failed (rc={rc}):\n{tail}")

    try:
        for name in names:
            t0 = time.time()
            started.append(name)
            sh("up", name, up_timeout_s)
            log(f"services: {name} up in {time.time() - t0:.0f}s")
        yield Endpoints(str(run_dir), ports)
    finally:
        for name in reversed(started):
            try:
                sh("down", name, 240)
            except Exception as exc:  # noqa: BLE001 - report, keep stopping the others
                log(f"warning: stopping {name}: {exc}")


def add_service_args(ap, kafka: bool = False, cassandra: bool = False, triton: bool = False) -> None:
    if kafka:
        ap.add_argument("--kafka", default=None, help="Kafka bootstrap host:port (default: infra/versions.env)")
    if cassandra:
        ap.add_argument("--cassandra", default=None, help="Cassandra host:port (default: infra/versions.env)")
        ap.add_argument("--keyspace", default=None)
    if triton:
        ap.add_argument("--triton", default=None, help="Triton gRPC host:port")
        ap.add_argument("--triton-pid-file", default=None,
                        help="tritonserver pid file, to add the server's CPU time (optional)")


def resolve_service_args(a) -> None:
    """Fill unset endpoints from infra/versions.env (services already running on the default ports)."""
    cfg = versions_env()
    if getattr(a, "kafka", "x") is None:
        a.kafka = f"{HOST}:{cfg['KAFKA_PORT']}"
    if getattr(a, "cassandra", "x") is None:
        a.cassandra = f"{HOST}:{cfg['CASSANDRA_CQL_PORT']}"
    if getattr(a, "keyspace", "x") is None:
        a.keyspace = cfg["CASSANDRA_KEYSPACE"]


def read_pid(path: Optional[str]) -> Optional[int]:
    if not path:
        return None
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else 0.0
