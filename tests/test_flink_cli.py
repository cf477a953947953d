"""``alpr run --runner flink`` without services: the job options reach the ``flink run`` command
line, exactly-once is the job's default alert delivery, and the Flink runner's settings are
checked (Kafka source and sinks: the defaults with runner flink, anything else an error)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from alpr.app.cli import main
from alpr.config import ConfigError, Settings, load_settings
from alpr.pipelines.flink import submit as submit_mod
from alpr.pipelines.flink.locate import FlinkPaths
from alpr.pipelines.flink.options import JobOptions

JOB_ID = "0123456789abcdef0123456789abcdef"


def _paths(tmp_path) -> FlinkPaths:
    (tmp_path / "home" / "bin").mkdir(parents=True, exist_ok=True)
    (tmp_path / "home" / "bin" / "flink").write_text("#!/bin/sh\n")
    return FlinkPaths(tmp_path / "home", Path(sys.executable), ())


@pytest.fixture
def flink_run(tmp_path, monkeypatch):
    """Runs ``alpr run --runner flink ARGS`` against a fake cluster; returns the ``bin/flink`` argv."""
    seen: list[list[str]] = []

    def fake_run(cmd, **kwargs):
        seen.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0, stdout=f"Job has been submitted with JobID {JOB_ID}\n", stderr="")

    monkeypatch.setattr(submit_mod, "flink_paths", lambda: _paths(tmp_path))
    monkeypatch.setattr(submit_mod.subprocess, "run", fake_run)
    monkeypatch.setattr(submit_mod.FlinkRest, "state", lambda self, jid: "RUNNING")
    for key in ("ALPR_SOURCE", "ALPR_ALERTS_SINK", "ALPR_DEADLETTER_SINK", "ALPR_RUNNER"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ALPR_FLINK_MASTER", "127.0.0.1:1")
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> list[str]:
        seen.clear()
        assert main(["run", "--runner", "flink", *args]) == 0
        assert len(seen) == 1
        return seen[0]
    return run


def _split(cmd: list[str]) -> tuple[list[str], list[str]]:
    """(``flink run`` options before ``-py``, job arguments after ``--``)."""
    return cmd[:cmd.index("-py")], cmd[cmd.index("--") + 1:]


def test_job_options_reach_the_flink_run_command_line(flink_run, tmp_path):
    run_opts, job = _split(flink_run(
        "--alerts-delivery", "at-least-once", "--checkpoint-dir", "s3://alpr/ckpt", "--health-topic", "camera-health",
        "--starting-offsets", "earliest", "--from-savepoint", "sp/savepoint-1"))
    assert run_opts[1:] == ["run", "-m", "127.0.0.1:1", "-s", str((tmp_path / "sp" / "savepoint-1").resolve())]
    assert job == ["--alerts-delivery", "at-least-once", "--checkpoint-dir", "s3://alpr/ckpt",
                   "--health-topic", "camera-health", "--starting-offsets", "earliest"]


def test_allow_non_restored_state_only_when_asked(flink_run):
    run_opts, _ = _split(flink_run("--from-savepoint", "s3://alpr/sp/1", "--allow-non-restored-state"))
    assert run_opts[-3:] == ["-s", "s3://alpr/sp/1", "--allowNonRestoredState"]
    run_opts, job = _split(flink_run())
    assert "-s" not in run_opts and "--allowNonRestoredState" not in run_opts
    assert job == []  # no option given: the job's own defaults (exactly-once alerts)
    with pytest.raises(ValueError, match="only applies with --from-savepoint"):
        JobOptions(allow_non_restored_state=True)


def test_local_checkpoint_dir_becomes_a_file_uri(tmp_path):
    assert JobOptions(checkpoint_dir="ckpt").job_args() == ["--checkpoint-dir", (Path.cwd() / "ckpt").as_uri()]
    assert JobOptions(checkpoint_dir="file:///x/y").job_args() == ["--checkpoint-dir", "file:///x/y"]


def test_submit_command_puts_run_options_before_the_program():
    paths = FlinkPaths(Path("/flink"), Path("/env/python"), ())
    cmd = submit_mod.submit_command("jm:8081", ["--alerts-delivery", "exactly-once"], paths,
                                    JobOptions(from_savepoint="/sp/1").run_args())
    assert cmd == ["/flink/bin/flink", "run", "-m", "jm:8081", "-s", "/sp/1", "-py", str(submit_mod.JOB_PY),
                   "-pyexec", "/env/python", "-pyclientexec", "/env/python", "--", "--alerts-delivery", "exactly-once"]


def test_savepoint_needs_a_cluster():
    settings = load_settings(env={}, runner="flink", flink_master="[local]")
    with pytest.raises(submit_mod.FlinkError, match="--from-savepoint restores a job on a Flink cluster"):
        submit_mod.run_flink(settings, options=JobOptions(from_savepoint="/sp/1"))


def test_direct_runner_refuses_flink_job_options(capsys):
    assert main(["run", "--runner", "direct", "--alerts-delivery", "exactly-once"]) == 2
    assert "--alerts-delivery: options of the Flink job, for --runner flink only" in capsys.readouterr().err


def test_exactly_once_is_the_jobs_default_and_at_least_once_stays_available():
    from alpr.pipelines.flink.job import parse_args

    assert parse_args([]).alerts_delivery == "exactly-once"
    assert parse_args(["--alerts-delivery", "at-least-once"]).alerts_delivery == "at-least-once"
    bench = (Path(__file__).resolve().parents[1] / "benchmarks" / "bench_flink.py").read_text()
    assert '"--alerts-delivery", "at-least-once"' in bench  # the latency benchmark keeps at-least-once


# --------------------------------------------------------------------------- runner flink settings
def test_flink_runner_defaults_to_kafka_source_and_sinks():
    s = load_settings(env={"ALPR_RUNNER": "flink"})
    assert (s.source, s.alerts_sink, s.deadletter_sink) == ("kafka", "kafka", "kafka")
    direct = load_settings(env={})
    assert (direct.source, direct.alerts_sink, direct.deadletter_sink) == (
        Settings().source, Settings().alerts_sink, Settings().deadletter_sink)


@pytest.mark.parametrize("name,value", [
    ("source", "synthetic:6"), ("alerts_sink", "jsonl:.run/alerts.jsonl"), ("deadletter_sink", "jsonl:d.jsonl"),
    ("deadletter_sink", "store"),
])
def test_flink_runner_refuses_what_the_job_would_ignore(name, value):
    with pytest.raises(ConfigError, match=rf"runner=flink needs {name}=kafka .*got {name}='{value}'"):
        load_settings(env={"ALPR_RUNNER": "flink", f"ALPR_{name.upper()}": value})
    with pytest.raises(ConfigError, match=f"runner=flink needs {name}=kafka"):
        Settings(runner="flink", **{**dict(source="kafka", alerts_sink="kafka", deadletter_sink="kafka"),
                                    name: value}).validate()


def test_flink_helpers_settings_pass():
    """What tests/flink_helpers.py and the benchmarks build."""
    s = load_settings(env={}, runner="flink", flink_master="127.0.0.1:18081", parallelism=2, source="kafka",
                      store="cassandra://127.0.0.1:19042/alpr", alerts_sink="kafka", deadletter_sink="kafka")
    assert s.runner == "flink" and s.source == "kafka"


def test_cli_flink_with_a_non_kafka_source_is_one_clear_line(flink_run, capsys):
    assert main(["run", "--runner", "flink", "--source", "synthetic:6"]) == 2
    err = capsys.readouterr().err
    assert "runner=flink needs source=kafka" in err and "ALPR_SOURCE" in err


def test_alert_schema_documents_the_default_delivery():
    import json

    from alpr.records import Alert

    schema = json.loads((Path(__file__).resolve().parents[1] / "connectors" / "schemas" / "alert.v1.schema.json")
                        .read_text())
    for text in (schema["properties"]["alert_id"]["description"], " ".join(Alert.__doc__.split())):
        assert re.search(r"exactly once\**,? by default", text), text
        assert "read_committed" in text and "at-least-once" in text


def test_a_savepoint_location_as_flink_writes_it_is_passed_unchanged():
    """``stop_with_savepoint`` answers ``file:/tmp/.../savepoint-x`` (one slash): a URI, not a relative path."""
    from alpr.pipelines.flink.options import JobOptions

    assert JobOptions(from_savepoint="file:/tmp/sp/savepoint-a1").run_args() == ["-s", "file:/tmp/sp/savepoint-a1"]
    assert JobOptions(from_savepoint="s3://ckpt/savepoint-a1").run_args() == ["-s", "s3://ckpt/savepoint-a1"]
    assert JobOptions(checkpoint_dir="file:/tmp/ck").job_args() == ["--checkpoint-dir", "file:/tmp/ck"]
    assert JobOptions(from_savepoint="sp/savepoint-a1").run_args()[1].startswith("/")  # a plain path: absolute
