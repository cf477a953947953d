"""Flink standalone cluster (PyPI Flink home) + Beam Python worker pool from infra/services.sh."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from services import versions_env

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


def test_rest_overview_and_task_slots(flink_service):
    ov = _get(f"{flink_service.rest_url}/overview")
    assert ov["flink-version"] == versions_env()["FLINK_VERSION"]
    assert ov["taskmanagers"] >= 1
    assert ov["slots-total"] >= max(2, flink_service.task_slots)
    tms = _get(f"{flink_service.rest_url}/taskmanagers")["taskmanagers"]
    assert sum(tm["slotsNumber"] for tm in tms) == ov["slots-total"]


def test_beam_worker_pool_listens(flink_service):
    with socket.create_connection((flink_service.host, flink_service.worker_pool_port), timeout=5):
        pass


@pytest.mark.skipif(shutil.which("javac") is None or shutil.which("jar") is None, reason="needs a JDK")
def test_cluster_runs_a_parallel_job(flink_service, tmp_path: Path):
    home = Path(flink_service.flink_home)
    dist = next((home / "lib").glob("flink-dist-*.jar"))
    (tmp_path / "SumJob.java").write_text(JOB)
    subprocess.run(["javac", "-cp", str(dist), "-d", str(tmp_path / "cls"), str(tmp_path / "SumJob.java")],
                   check=True, timeout=180)
    jar = tmp_path / "sumjob.jar"
    subprocess.run(["jar", "--create", "--file", str(jar), "--main-class", "SumJob", "-C", str(tmp_path / "cls"), "."],
                   check=True, timeout=60)
    env = dict(os.environ, FLINK_CONF_DIR=str(home / "conf"), FLINK_LOG_DIR=str(tmp_path))
    out = subprocess.run([str(home / "bin" / "flink"), "run", "-m", flink_service.master, str(jar)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "SUM=1001000" in out.stdout
    jobs = _get(f"{flink_service.rest_url}/jobs/overview")["jobs"]
    done = [j for j in jobs if j["name"] == "alpr-sum-job"]
    assert done and done[-1]["state"] == "FINISHED"
    vertices = _get(f"{flink_service.rest_url}/jobs/{done[-1]['jid']}")["vertices"]
    assert max(v["parallelism"] for v in vertices) == 2  # source+map ran in both slots
