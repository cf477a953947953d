"""``alpr run --runner flink``: submit the job to a Flink cluster and follow it over REST.

The job runs in the Flink job environment (PyFlink 2.2 + Beam 2.61, its own venv: see
infra/flink/README.md), never in the project venv, so submission is a subprocess:
``<flink home>/bin/flink run -m HOST:PORT [-s SAVEPOINT] -py pipelines/flink/job.py -pyexec PY -pyclientexec PY
-- ARGS`` (the options ``alpr run`` passes on: :mod:`alpr.pipelines.flink.options`).
Nothing here imports PyFlink.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

# FlinkError and FlinkEnvironmentMissing live in locate (no PyFlink there either) and are re-exported here
from alpr.pipelines.flink.locate import FlinkEnvironmentMissing, FlinkError, FlinkPaths, flink_paths  # noqa: F401
from alpr.pipelines.flink.options import JobOptions

log = logging.getLogger(__name__)
JOB_PY = Path(__file__).resolve().with_name("job.py")
TERMINAL = {"FINISHED", "FAILED", "CANCELED", "SUSPENDED"}
_CAUSE = re.compile(r"^(?:Caused by:\s*)?([\w.$]+(?:Exception|Error)\b.*)$")


def failure_reason(output: str) -> str:
    """The line of ``bin/flink``'s output that says why: the last exception (Java prints the root
    cause last, as ``Caused by: ...``), else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    causes = [m.group(1) for m in map(_CAUSE.match, lines) if m]
    return (causes or lines or ["no output"])[-1]


def submit_command(master: str, job_args: Sequence[str] = (), paths: Optional[FlinkPaths] = None,
                   run_args: Sequence[str] = ()) -> list[str]:
    """``bin/flink run -m MASTER [RUN_ARGS] -py job.py ... -- JOB_ARGS``: ``run_args`` are
    ``flink run``'s own options (``-s SAVEPOINT``), ``job_args`` the job's (``--alerts-delivery``)."""
    p = paths or flink_paths()
    py = str(p.python)
    return [str(p.home / "bin" / "flink"), "run", "-m", master, *run_args, "-py", str(JOB_PY),
            "-pyexec", py, "-pyclientexec", py, "--", *job_args]


def submit(master: str, job_args: Sequence[str] = (), env: Optional[dict] = None, timeout: float = 300,
           paths: Optional[FlinkPaths] = None, conf_dir: Optional[str] = None, run_args: Sequence[str] = ()) -> str:
    """Submit; returns the job id once the cluster accepted the job."""
    p = (paths or flink_paths()).check()
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("FLINK_CONF_DIR", conf_dir or str(p.home / "conf"))
    run_env.setdefault("FLINK_LOG_DIR", tempfile.mkdtemp(prefix="alpr-flink-client-"))
    try:
        out = subprocess.run(submit_command(master, job_args, p, run_args), env=run_env, capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise FlinkError(f"flink run -m {master} did not finish within {timeout:.0f}s") from exc
    found = re.search(r"JOB_ID=([0-9a-f]{32})", out.stdout) or re.search(r"JobID ([0-9a-f]{32})", out.stdout)
    if out.returncode != 0 or not found:
        output = f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        log.debug("flink run output:\n%s", output)  # alpr --debug shows it
        raise FlinkError(f"flink run -m {master} failed (exit {out.returncode}): {failure_reason(output)}")
    return found.group(1)


def run_local(job_args: Sequence[str] = (), env: Optional[dict] = None, paths: Optional[FlinkPaths] = None) -> int:
    """``flink_master=[local]``: run the job in a MiniCluster in a child process (blocks)."""
    p = (paths or flink_paths()).check()
    return subprocess.run([str(p.python), str(JOB_PY), "--local", *job_args],
                          env=dict(os.environ if env is None else env)).returncode


# --------------------------------------------------------------------------- REST
class FlinkRest:
    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/") if url.startswith("http") else f"http://{url.rstrip('/')}"
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Optional[dict] = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text = resp.read()
        except urllib.error.HTTPError as exc:
            raise FlinkError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise FlinkError(f"cannot reach the Flink REST API at {self.url} ({reason})") from exc
        return json.loads(text) if text else {}

    def get(self, path: str):
        return self._call("GET", path)

    def job(self, jid: str) -> dict:
        return self.get(f"/jobs/{jid}")

    def state(self, jid: str) -> str:
        return self.job(jid)["state"]

    def wait_state(self, jid: str, states: set[str], timeout: float = 120) -> str:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            last = self.state(jid)
            if last in states:
                return last
            if last in TERMINAL:
                raise FlinkError(f"job {jid} is {last}, wanted {sorted(states)}: {self.exceptions(jid)}")
            time.sleep(0.5)
        raise FlinkError(f"job {jid} still {last} after {timeout:.0f} s (wanted {sorted(states)})")

    def wait_running(self, jid: str, timeout: float = 180) -> None:
        """RUNNING and every task of every vertex running (sources are reading)."""
        deadline = time.monotonic() + timeout
        self.wait_state(jid, {"RUNNING"}, timeout)
        while time.monotonic() < deadline:
            vs = self.job(jid)["vertices"]
            if all(v["status"] == "RUNNING" for v in vs):
                return
            time.sleep(0.5)
        raise FlinkError(f"job {jid}: not every task running after {timeout:.0f} s")

    def exceptions(self, jid: str) -> str:
        try:
            ex = self.get(f"/jobs/{jid}/exceptions")
            return (ex.get("root-exception") or "")[:2000]
        except FlinkError as exc:
            return str(exc)

    def cancel(self, jid: str) -> None:
        self._call("PATCH", f"/jobs/{jid}?mode=cancel")

    def checkpoints(self, jid: str) -> dict:
        return self.get(f"/jobs/{jid}/checkpoints")

    def completed_checkpoints(self, jid: str) -> int:
        return int(self.checkpoints(jid)["counts"]["completed"])

    def wait_checkpoints(self, jid: str, n: int, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.completed_checkpoints(jid)
            if done >= n:
                return done
            time.sleep(0.5)
        raise FlinkError(f"job {jid}: fewer than {n} completed checkpoints after {timeout:.0f} s")

    def stop_with_savepoint(self, jid: str, target_dir: str, timeout: float = 180) -> str:
        """Stop the job with a savepoint (the upgrade path); returns the savepoint location."""
        trig = self._call("POST", f"/jobs/{jid}/stop", {"targetDirectory": target_dir, "drain": False})["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.get(f"/jobs/{jid}/savepoints/{trig}")
            if st["status"]["id"] == "COMPLETED":
                op = st.get("operation") or {}
                if "location" in op:
                    return op["location"]
                raise FlinkError(f"savepoint failed: {op.get('failure-cause', op)}")
            time.sleep(0.5)
        raise FlinkError(f"savepoint of {jid} not done after {timeout:.0f} s")

    def operator_metric(self, jid: str, operator: str, metric: str) -> float:
        """Sum over subtasks of the job's own metric ``alpr.<metric>`` of operator ``operator``
        (e.g. ``parse-frames``, ``frames_in``); 0 when not reported yet."""
        total = 0.0
        for v in self.job(jid)["vertices"]:
            ids = {m["id"].split(".", 1)[1] for m in self.get(f"/jobs/{jid}/vertices/{v['id']}/metrics")}
            names = [i for i in ids if i == f"{operator}.alpr.{metric}"]
            if names:
                got = self.get(f"/jobs/{jid}/vertices/{v['id']}/subtasks/metrics?get={names[0]}&agg=sum")
                total += sum(float(m.get("sum", 0)) for m in got)
        return total


def flink_job_args(settings, hotlist: Optional[str] = None, hotlist_list: str = "HOT",
             options: Optional[JobOptions] = None, extra_args: Sequence[str] = ()) -> list[str]:
    """The job's arguments: ``options`` (``alpr run``'s flags), the hotlist file, the parallelism,
    then ``extra_args`` (last, so an explicit one wins)."""
    args = list((options or JobOptions()).job_args())
    if hotlist:
        args += ["--hotlist", str(Path(hotlist).resolve()), "--hotlist-list", hotlist_list]
    if settings.parallelism and settings.parallelism > 1:
        args += ["--parallelism", str(settings.parallelism)]
    return args + list(extra_args)


def _is_local(master: str) -> bool:
    return master in ("[local]", "local", "")


def run_flink(settings, hotlist: Optional[str] = None, hotlist_list: str = "HOT", follow: bool = False,
              extra_args: Sequence[str] = (), poll_s: float = 5.0, options: Optional[JobOptions] = None) -> int:
    """``alpr run --runner flink``: the settings travel as ``ALPR_*`` environment (the job loads
    them the same way); ``flink_master=[local]`` runs a MiniCluster in a child process."""
    options = options or JobOptions()
    args = flink_job_args(settings, hotlist, hotlist_list, options, extra_args)
    env = dict(os.environ)
    env.update(settings_env(settings))
    if _is_local(settings.flink_master):
        if options.run_args():
            raise FlinkError("--from-savepoint restores a job on a Flink cluster: set flink_master "
                             "(ALPR_FLINK_MASTER=host:port); [local] starts a fresh MiniCluster")
        return run_local(args, env=env)
    jid = submit(settings.flink_master, args, env=env, run_args=options.run_args())
    rest = FlinkRest(settings.flink_master)
    print(f"submitted flink job {jid} to {rest.url} (state {rest.state(jid)})", flush=True)
    if not follow:
        return 0
    while True:
        state = rest.state(jid)
        if state in TERMINAL:
            print(f"flink job {jid}: {state}", flush=True)
            if state != "FINISHED":
                print(rest.exceptions(jid), flush=True)
            return 0 if state == "FINISHED" else 1
        time.sleep(poll_s)


def settings_env(settings) -> dict[str, str]:
    """The settings as ``ALPR_*`` variables (nested with ``__``), so the job process, which
    loads its settings from the environment, sees exactly these."""
    import dataclasses

    out: dict[str, str] = {}

    def walk(obj, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if dataclasses.is_dataclass(v):
                walk(v, f"{prefix}{f.name.upper()}__")
            elif v is not None:
                out[f"{prefix}{f.name.upper()}"] = (json.dumps(list(v)) if isinstance(v, (list, tuple))
                                                    else str(v).lower() if isinstance(v, bool) else str(v))
    walk(settings, "ALPR_")
    return out
