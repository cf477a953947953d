"""Errors a person can act on: one line, non-zero exit, --debug shows the traceback; retries back
off with jitter and report once per state change; no traceback at interpreter exit.

Each CLI case runs the real ``alpr`` entry point in its own process against a closed port."""
import logging
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alpr.app.errors import describe
from alpr.backoff import Backoff, StateLog

ALPR = [sys.executable, "-m", "alpr.app.cli"]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alpr(*argv, timeout=120, cwd=None):
    env = dict(os.environ, ALPR_PROGRESS="off")
    return subprocess.run([*ALPR, *argv], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def one_error_line(proc, command: str) -> str:
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert "Traceback" not in proc.stderr and "[ERROR]" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"alpr {command}: error: ")
    return lines[0]


def test_missing_source_one_line_and_debug_shows_traceback(tmp_path):
    p = alpr("run", "--source", str(tmp_path / "nope"), "--store", f"sqlite:{tmp_path / 'a.db'}", cwd=tmp_path)
    assert p.returncode == 2
    assert "not found" in one_error_line(p, "run")
    d = alpr("--debug", "run", "--source", str(tmp_path / "nope"), "--store", f"sqlite:{tmp_path / 'a.db'}",
             cwd=tmp_path)
    assert d.returncode == 2 and "Traceback (most recent call last)" in d.stderr


@pytest.mark.parametrize("flag,value,service", [
    ("--store", "cassandra://127.0.0.1:{port}/alpr", "Cassandra"),
    ("--inference", "triton://127.0.0.1:{port}", "Triton"),
])
def test_unreachable_service_one_line(tmp_path, flag, value, service):
    port = closed_port()
    t0 = time.monotonic()
    p = alpr("run", "--source", "synthetic:1", flag, value.format(port=port), cwd=tmp_path)
    assert p.returncode == 2
    line = one_error_line(p, "run")
    assert f"cannot reach {service} at 127.0.0.1:{port}" in line and "make services-up" in line
    assert time.monotonic() - t0 < 60  # refused at once, not after the pipeline's retries


def test_unreachable_kafka_source_one_line(tmp_path):
    port = closed_port()
    env_run = subprocess.run([*ALPR, "run"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                             env=dict(os.environ, ALPR_SOURCE="kafka", ALPR_KAFKA__BOOTSTRAP=f"127.0.0.1:{port}"))
    assert env_run.returncode == 2
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in one_error_line(env_run, "run")


def test_bad_config_key_one_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("grouping:\n  min_readz: 3\n")
    p = alpr("run", "-c", str(cfg), cwd=tmp_path)
    assert p.returncode == 2
    line = one_error_line(p, "run")
    assert "unknown setting" in line and "grouping.min_readz" in line


def test_alerts_tail_without_kafka_gives_up_with_one_line(tmp_path, monkeypatch):
    from cli_accounts import CliAccounts

    login = CliAccounts(tmp_path, monkeypatch).as_(purpose="HOTLIST-HIT")  # alerts tail is an access
    port = closed_port()
    t0 = time.monotonic()
    p = alpr("alerts", "tail", *login, "--bootstrap", f"127.0.0.1:{port}", "--connect-timeout", "3", timeout=60)
    took = time.monotonic() - t0
    assert p.returncode == 2
    line = one_error_line(p, "alerts")
    assert f"cannot reach Kafka at 127.0.0.1:{port} within 3s" in line
    assert 3 <= took < 30  # retried for the timeout, then stopped (was: "Connection refused" forever)
    assert "Connection refused" not in p.stdout


def test_gateway_without_kafka_one_line_no_librdkafka_spam():
    port = closed_port()
    p = alpr("gateway", "synthetic:1", "--camera", "c1", "--agency", "DHSPD", "--bootstrap", f"127.0.0.1:{port}",
             "--connect-timeout", "2", timeout=60)
    assert p.returncode == 2
    assert f"cannot reach Kafka at 127.0.0.1:{port} within 2s" in one_error_line(p, "gateway")
    assert "rdkafka" not in p.stderr


def flink_env(tmp_path, **extra) -> dict:
    """An environment with no Flink: an empty cache and none of the locate overrides."""
    env = {k: v for k, v in os.environ.items() if k not in ("FLINK_HOME", "FLINK_ENV_PYTHON", "FLINK_JOB_JARS")}
    env.update(ALPR_PROGRESS="off", ALPR_CACHE=str(tmp_path / "empty-cache"), **extra)
    return env


def test_flink_runner_without_flink_one_line_and_debug_shows_traceback(tmp_path):
    for master in ("[local]", f"127.0.0.1:{closed_port()}"):
        env = flink_env(tmp_path, ALPR_FLINK_MASTER=master)
        p = subprocess.run([*ALPR, "run", "--runner", "flink"], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path, env=env)
        assert p.returncode == 2, p.stderr
        line = one_error_line(p, "run")
        assert "Flink: job environment not found" in line and "make services-fetch" in line
        assert "--runner direct" in line
    d = subprocess.run([*ALPR, "--debug", "run", "--runner", "flink"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path, env=flink_env(tmp_path))
    assert d.returncode == 2 and "Traceback (most recent call last)" in d.stderr
    assert "FlinkEnvironmentMissing" in d.stderr


def fake_flink_home(tmp_path, script: str) -> dict:
    """A Flink home whose ``bin/flink`` runs ``script`` (no JVM, no cluster)."""
    home = tmp_path / "flink-home"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "flink").write_text("#!/bin/sh\n" + script)
    (home / "bin" / "flink").chmod(0o755)
    jar = tmp_path / "job.jar"
    jar.write_bytes(b"")
    return dict(FLINK_HOME=str(home), FLINK_ENV_PYTHON=sys.executable, FLINK_JOB_JARS=str(jar))


def test_flink_submission_failure_is_one_line_with_the_cause(tmp_path):
    port = closed_port()
    java = ("echo 'org.apache.flink.client.program.ProgramInvocationException: The main method caused an error'\n"
            "echo '\tat org.apache.flink.client.cli.CliFrontend.run(CliFrontend.java:1)'\n"
            f"echo 'Caused by: java.net.ConnectException: Connection refused: /127.0.0.1:{port}'\n"
            "exit 1\n")
    env = flink_env(tmp_path, ALPR_FLINK_MASTER=f"127.0.0.1:{port}", **fake_flink_home(tmp_path, java))
    p = subprocess.run([*ALPR, "run", "--runner", "flink"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path, env=env)
    assert p.returncode == 2, p.stderr
    line = one_error_line(p, "run")
    assert f"flink run -m 127.0.0.1:{port} failed (exit 1): java.net.ConnectException: Connection refused" in line
    assert "make services-up" in line and "ALPR_FLINK_MASTER" in line


def test_flink_rest_unreachable_after_submission_is_one_line(tmp_path):
    port = closed_port()
    accepted = "echo 'Job has been submitted with JobID 0123456789abcdef0123456789abcdef'\n"
    env = flink_env(tmp_path, ALPR_FLINK_MASTER=f"127.0.0.1:{port}", **fake_flink_home(tmp_path, accepted))
    p = subprocess.run([*ALPR, "run", "--runner", "flink"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path, env=env)
    assert p.returncode == 2, p.stderr
    line = one_error_line(p, "run")
    assert f"cannot reach the Flink REST API at http://127.0.0.1:{port}" in line


def test_backoff_full_jitter_grows_and_caps():
    b = Backoff(base_s=0.5, cap_s=4.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(12)]
    ceilings = [min(4.0, 0.5 * 2 ** i) for i in range(12)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings))
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not in step
    assert max(delays[6:]) > 1.0  # it does grow past the base
    b.reset()
    assert b.next_delay() <= 0.5


def test_state_log_speaks_once_per_change(caplog):
    log = logging.getLogger("test.statelog")
    states = StateLog(log)
    with caplog.at_level(logging.WARNING, logger="test.statelog"):
        for _ in range(50):
            states.update("down", "unreachable")
        states.update("up", "back")
        for _ in range(5):
            states.update("up", "back")
        states.update("down", "unreachable")
    assert [r.getMessage() for r in caplog.records] == ["unreachable", "back", "unreachable"]


def test_describe_maps_expected_and_unexpected():
    msg, status = describe(FileNotFoundError(2, "No such file or directory", "/x/y.jpg"))
    assert (msg, status) == ("/x/y.jpg: No such file or directory", 2)
    try:
        try:
            raise ValueError("grouping.min_reads: expected an integer")
        except ValueError as inner:
            raise RuntimeError("pipeline failed") from inner
    except RuntimeError as exc:
        assert describe(exc) == ("grouping.min_reads: expected an integer", 2)
    msg, status = describe(ZeroDivisionError("division by zero"))
    assert status == 1 and msg.startswith("ZeroDivisionError")
    long = describe(ValueError("x\n" * 1000))[0]
    assert "\n" not in long and len(long) <= 400


def test_half_built_triton_client_leaves_no_traceback_at_exit():
    code = ("from alpr.inference.triton_backend import _safe_client_class\n"
            "try:\n    _safe_client_class()(url=123)\nexcept Exception as exc:\n    keep = exc\n"
            "print('built')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "built" in p.stdout
    assert "Exception ignored" not in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_beam_resource_warning_has_no_cause_left():
    from apache_beam.ml.inference import base

    from alpr.app.quiet import restore_beam_resource

    restore_beam_resource()
    assert base.resource is not None
    assert base._get_current_process_memory_in_bytes() > 0



def test_commands_named_in_messages_exist():
    """A message that tells a person to run `alpr X Y` names a command that exists
    (a bootstrap error once named `alpr users create` before there was one)."""
    import argparse
    import re

    from alpr.app.cli import build_parser

    def subs(parser):
        return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})

    repo = Path(__file__).resolve().parents[1]
    root = subs(build_parser())
    named = []
    for folder in ("alpr", "connectors", "governance", "inference", "pipelines"):
        for f in (repo / folder).rglob("*.py"):
            for m in re.finditer(r"`alpr ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", f.read_text()):
                named.append((f.relative_to(repo), m.group(1), m.group(2)))
    assert named
    for f, cmd, sub in named:
        assert cmd in root, f"{f}: `alpr {cmd}` does not exist"
        if sub and subs(root[cmd]):
            assert sub in subs(root[cmd]), f"{f}: `alpr {cmd} {sub}` does not exist"
