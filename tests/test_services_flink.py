"""Flink 2.2 standalone cluster from the PyPI Flink home (infra/services.sh): JobManager +
two TaskManagers on 127.0.0.1, the Prometheus reporter, a parallel Java job, and the Flink job
environment (PyFlink 2.2 + Beam 2.61 + tritonclient 2.49 + this project, --no-deps)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from services import REPO, versions_env

pytestmark = pytest.mark.services

JOB = """
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;

public class SumJob {
    public static void main(String[] args) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(2);
        long sum = 0;
        try (CloseableIterator<Long> it = env.fromSequence(1, 1000).map(x -> x * 2).returns(Long.class)
                .executeAndCollect("alpr-sum-job")) {
            while (it.hasNext()) { sum += it.next(); }
        }
        System.out.println("SUM=" + sum);
    }
}
"""


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def test_cluster_has_two_taskmanagers_with_configured_slots(flink_service):
    ov = _get(f"{flink_service.rest_url}/overview")
    assert ov["flink-version"] == versions_env()["FLINK_VERSION"]
    assert ov["taskmanagers"] == flink_service.taskmanagers == 2
    assert ov["slots-total"] == flink_service.taskmanagers * flink_service.task_slots
    tms = _get(f"{flink_service.rest_url}/taskmanagers")["taskmanagers"]
    assert sorted(tm["slotsNumber"] for tm in tms) == [flink_service.task_slots] * 2
    conf = {c["key"]: c["value"] for c in _get(f"{flink_service.rest_url}/jobmanager/config")}
    assert conf["rest.bind-address"] == "127.0.0.1" and conf["jobmanager.bind-host"] == "127.0.0.1"
    assert conf["state.backend.type"] == "rocksdb"
    assert conf["execution.checkpointing.dir"].startswith("file://")
    assert conf["python.executable"] == flink_service.python


def test_prometheus_reporter_serves_flink_metrics(flink_service):
    if not flink_service.run_dir:
        pytest.skip("reporter ports are only known for a cluster started here")
    conf = (Path(flink_service.run_dir) / "conf" / "config.yaml").read_text()
    ports = [int(p) for p in conf.split("metrics.reporter.prom.port:")[1].splitlines()[0].strip(' "').split(",")]
    served = []
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                served.append(resp.read().decode())
        except OSError:
            continue
    assert len(served) == 3  # JobManager + two TaskManagers
    assert any("flink_jobmanager_numRegisteredTaskManagers" in text for text in served)
    assert sum("flink_taskmanager_Status_JVM_Memory_Heap_Used" in text for text in served) == 2


def test_job_environment_has_the_documented_pins(flink_service):
    code = ("import importlib.metadata as m, tritonclient.grpc, pyflink, apache_beam, numpy, alpr.pipelines.core; "
            "print(m.version('apache-flink'), m.version('apache-beam'), m.version('tritonclient'), numpy.__version__, "
            "alpr.pipelines.core.__file__)")
    out = subprocess.run([flink_service.python, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    flink, beam, triton, numpy_v, core = out.stdout.split()
    cfg = versions_env()
    assert (flink, beam, triton) == (cfg["FLINK_VERSION"], cfg["FLINK_ENV_BEAM_VERSION"],
                                     cfg["FLINK_ENV_TRITONCLIENT_VERSION"])
    assert tuple(int(x) for x in numpy_v.split(".")[:2]) < (2, 2)
    assert Path(core).resolve().is_relative_to(REPO)  # this checkout, editable


def test_fetch_is_cached_and_quiet(flink_service):
    out = subprocess.run(["bash", str(REPO / "infra" / "services.sh"), "fetch", "flink"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == ""
    lines = [ln for ln in out.stderr.splitlines() if "fetch " in ln]
    assert sum("cached in" in ln for ln in lines) == 3, lines  # env, connector jar, alpr jar


@pytest.mark.skipif(shutil.which("javac") is None or shutil.which("jar") is None, reason="needs a JDK")
def test_cluster_runs_a_parallel_job_over_both_taskmanagers(flink_service, tmp_path: Path):
    home = Path(flink_service.flink_home)
    dist = next((home / "lib").glob("flink-dist-*.jar"))
    (tmp_path / "SumJob.java").write_text(JOB)
    subprocess.run(["javac", "-cp", str(dist), "-d", str(tmp_path / "cls"), str(tmp_path / "SumJob.java")],
                   check=True, timeout=180)
    jar = tmp_path / "sumjob.jar"
    subprocess.run(["jar", "--create", "--file", str(jar), "--main-class", "SumJob", "-C", str(tmp_path / "cls"), "."],
                   check=True, timeout=60)
    env = dict(os.environ, FLINK_CONF_DIR=flink_service.conf_dir or str(home / "conf"), FLINK_LOG_DIR=str(tmp_path))
    out = subprocess.run([str(home / "bin" / "flink"), "run", "-m", flink_service.master, str(jar)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "SUM=1001000" in out.stdout
    jobs = _get(f"{flink_service.rest_url}/jobs/overview")["jobs"]
    done = [j for j in jobs if j["name"] == "alpr-sum-job"]
    assert done and done[-1]["state"] == "FINISHED"
    jid = done[-1]["jid"]
    vertices = _get(f"{flink_service.rest_url}/jobs/{jid}")["vertices"]
    assert max(v["parallelism"] for v in vertices) == 2
    src = vertices[0]["id"]
    hosts = {st["taskmanager-id"] for st in _get(f"{flink_service.rest_url}/jobs/{jid}/vertices/{src}")["subtasks"]}
    assert len(hosts) == 2  # taskmanager.load-balance.mode=SLOTS: one subtask per TaskManager
