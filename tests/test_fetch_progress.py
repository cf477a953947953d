"""Progress of the set-up downloads (infra/stream_progress.py): ``make install``'s pip run and every
phase of ``infra/services.sh fetch``. No network: recorded Maven and pip output (tests/data/fetch/,
captured from real runs: Maven 3.8.7 resolving Kafka 4.4.0 into an empty local repository, trimmed;
a Maven run that cannot find an artifact; pip 26 with ``--progress-bar raw``; pip 23.2 with ``off``)
is fed to the counters, and services.sh runs against a fake ``mvn`` that replays it."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "fetch"
_spec = importlib.util.spec_from_file_location("stream_progress", REPO / "infra" / "stream_progress.py")
sp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sp)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def replay(name: str, counter, every: float, rc: int = 0, step: float = 0.1):
    """Feed a recording line by line, ``step`` seconds apart; returns (rc, printed lines, log text)."""
    clock, out, log = Clock(), io.StringIO(), io.StringIO()
    meter = sp.Meter(counter, sp.PlainView(out, every, clock), "fetch x", log, "LOG", out, 40, clock=clock)
    for line in (DATA / name).read_text().splitlines(keepends=True):
        clock.t += step
        meter.feed(line)
    return meter.finish(rc), out.getvalue().splitlines(), log.getvalue()


def test_maven_resolution_shows_a_throttled_counter_and_a_total():
    rc, lines, log = replay("mvn-kafka.txt", sp.MavenCounter(), every=2.0)
    assert rc == 0
    progress, summary = lines[:-1], lines[-1]
    # one line per 2 s of a 10.8 s stream, not one per Maven line
    assert 3 <= len(progress) <= 6, lines
    assert re.fullmatch(r"fetch x: \d+ artifacts downloaded \(0\.\d MB\), 4\.\d/s, last \S+\.(pom|jar), elapsed 0:02",
                        progress[0]), progress
    assert all(", elapsed 0:" in ln for ln in progress)
    counts = [int(ln.split(": ", 1)[1].split()[0]) for ln in progress]
    assert counts == sorted(counts) and counts[-1] == 29
    assert any("jars copied" in ln for ln in progress)
    assert summary == "fetch x: 29 artifacts downloaded (35.9 MB), 45 jars copied in 0:10 (log: LOG)"
    assert not any("[INFO]" in ln or "\x1b" in ln for ln in lines)
    # the log keeps every line, without the colour codes Maven writes even with style.color=never
    assert log.count("\n") == len((DATA / "mvn-kafka.txt").read_text().splitlines())
    assert "\x1b" not in log and "Downloaded from central: " in log


def test_maven_with_everything_in_the_local_repository_says_so():
    recording = [ln for ln in (DATA / "mvn-kafka.txt").read_text().splitlines() if "Download" not in ln]
    counter, clock, out = sp.MavenCounter(), Clock(), io.StringIO()
    meter = sp.Meter(counter, sp.PlainView(out, 15, clock), "fetch kafka", None, "", out, clock=clock)
    for line in recording:
        meter.feed(line)
    assert meter.finish(0) == 0
    assert out.getvalue() == ("fetch kafka: nothing downloaded (all in the local Maven repository), 45 jars copied "
                              "in 0:00\n")


def test_a_failed_maven_run_shows_its_log_tail_and_its_exit_status():
    rc, lines, _ = replay("mvn-fail.txt", sp.MavenCounter(), every=2.0, rc=1)
    assert rc == 1
    head = [ln for ln in lines if not ln.startswith("  ")]
    assert head == ["fetch x: failed (exit 1) after 0:03; last lines of LOG:"]
    tail = [ln[2:] for ln in lines if ln.startswith("  ")]
    assert any(ln.startswith("[ERROR] Failed to execute goal") and "0.0.0-nope" in ln for ln in tail)
    assert tail[-1].startswith("[ERROR] [Help 1]") and all(ln.strip() for ln in tail)
    assert not any("artifacts downloaded" in ln for ln in lines)


def test_pip_with_raw_progress_shows_the_large_download_with_rate_and_eta():
    rc, lines, log = replay("pip-raw.txt", sp.PipCounter(), every=0.0)
    assert rc == 0
    numpy = [ln for ln in lines if "downloading numpy-1.26.4: " in ln]
    assert numpy and any(" MB/s, ETA 0:" in ln for ln in numpy), lines
    assert "downloading numpy-1.26.4: 0.0/18.3 MB (0%), elapsed" in numpy[0]  # no rate before any byte
    assert any(ln.startswith("fetch x: installing 9 packages, elapsed ") for ln in lines)
    assert lines[-1] == "fetch x: 9 packages installed, 9 requirements checked, 39.1 MB downloaded in 0:03 (log: LOG)"
    # pip's resolver note about the project venv (a --target install) stays in the log
    assert "ERROR: pip's dependency resolver" in log and not any("ERROR" in ln for ln in lines)
    assert "Progress " not in log


def test_an_older_pip_without_raw_progress_counts_packages_and_megabytes():
    rc, lines, _ = replay("pip-off.txt", sp.PipCounter(), every=1.0)
    assert rc == 0
    assert lines[0] == "fetch x: 5 packages collected, 4.5/s, downloads 31.8 MB, last packaging, elapsed 0:01"
    assert lines[-1] == "fetch x: 9 packages installed, 9 requirements checked, 39.1 MB downloaded in 0:02 (log: LOG)"


def test_pip_command_uses_raw_progress_only_where_pip_has_it(tmp_path):
    cmd = sp.pip_command(sys.executable, ["install", "-q", "--no-deps", "x==1"])
    assert cmd[:3] == [sys.executable, "-m", "pip"] and "-q" not in cmd
    assert cmd[3:6] == ["install", "--progress-bar", sp.pip_bar(sys.executable)] and cmd[6:] == ["--no-deps", "x==1"]
    old = tmp_path / "python-with-pip-23"
    old.write_text("#!/bin/sh\necho '  --progress-bar <progress_bar>  Specify whether the progress bar should be "
                   "used [on, off] (default: on)'\necho '  --root-user-action <x>'\n")
    old.chmod(0o755)
    assert sp.pip_bar(str(old)) == "off"
    new = tmp_path / "python-with-pip-26"
    new.write_text("#!/bin/sh\necho '  --progress-bar <progress_bar>'\necho '      bars. [auto, on,'\n"
                   "echo '      off, raw] (default: auto)'\n")
    new.chmod(0o755)
    assert sp.pip_bar(str(new)) == "raw"


def test_run_logs_everything_and_returns_the_commands_exit_status(tmp_path):
    script = "import sys; sys.stdout.write(open(sys.argv[1]).read()); sys.exit(int(sys.argv[2]))"
    out = io.StringIO()
    log = tmp_path / "sub" / "mvn.log"
    rc = sp.run([sys.executable, "-c", script, str(DATA / "mvn-fail.txt"), "1"], sp.MavenCounter(), "fetch x",
                str(log), stream=out, view=sp.SilentView())
    assert rc == 1
    assert "Could not find artifact" in log.read_text()
    assert out.getvalue().startswith("fetch x: failed (exit 1) after 0:0")
    assert "\n  [ERROR] Failed to execute goal" in out.getvalue()
    out = io.StringIO()
    assert sp.run([sys.executable, "-c", script, str(DATA / "mvn-kafka.txt"), "0"], sp.MavenCounter(), "fetch x",
                  str(log), stream=out, view=sp.SilentView()) == 0
    assert out.getvalue().startswith("fetch x: 29 artifacts downloaded (35.9 MB), 45 jars copied in 0:0")
    out = io.StringIO()
    assert sp.run([str(tmp_path / "no-such-mvn")], sp.MavenCounter(), "fetch x", str(log), stream=out,
                  view=sp.SilentView()) == 127
    assert "cannot run" in out.getvalue()


FAKE_MVN = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_MVN_ARGS"
out=""; for a in "$@"; do case $a in -DoutputDirectory=*) out=${a#*=} ;; esac; done
sed "s#@OUT@#$out#g" "$FAKE_MVN_OUTPUT"
if [[ ${FAKE_MVN_RC:-0} == 0 ]]; then
  grep -o 'Copying [^ ]*' "$FAKE_MVN_OUTPUT" | while read -r _ jar; do : > "$out/$jar"; done
fi
exit "${FAKE_MVN_RC:-0}"
"""


@pytest.fixture
def fake_mvn(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text(FAKE_MVN)
    (bin_dir / "mvn").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("MAVEN_REPO_LOCAL", "ALPR_PROGRESS")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", ALPR_CACHE=str(tmp_path / "cache"), ALPR_PYTHON=sys.executable,
               ALPR_PROGRESS_EVERY="0", FAKE_MVN_ARGS=str(tmp_path / "mvn-args"),
               FAKE_MVN_OUTPUT=str(DATA / "mvn-kafka.txt"))
    return env


def _fetch_kafka(env):
    return subprocess.run(["bash", str(REPO / "infra" / "services.sh"), "fetch", "kafka"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_services_fetch_kafka_shows_maven_progress_then_is_cached_and_quiet(fake_mvn, tmp_path):
    p = _fetch_kafka(fake_mvn)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    lines = [ln.split("] ", 1)[1] for ln in p.stderr.splitlines()]
    assert lines[0].startswith("fetch kafka: Maven dependency:copy-dependencies -> ")
    assert lines[1].startswith("fetch kafka: 1 artifact downloaded (")
    assert any(ln.startswith("fetch kafka: 29 artifacts downloaded") and "jars copied" in ln for ln in lines[1:-2])
    assert lines[-2].startswith("fetch kafka: 29 artifacts downloaded (35.9 MB), 45 jars copied in 0:0")
    assert lines[-2].endswith(f"(log: {tmp_path}/cache/mvn-kafka.log)")
    assert lines[-1].startswith("fetch kafka: done in ")
    assert not any("ERROR" in ln or "[INFO]" in ln for ln in lines)
    libs = next((tmp_path / "cache").glob("kafka-*"))
    assert len(list(libs.glob("*.jar"))) == 45 and (libs / ".alpr-complete").is_file()
    args = (tmp_path / "mvn-args").read_text()
    assert " -q " not in f" {args} " and "-ntp" not in args and "-B " in args  # its lines are the counter

    again = _fetch_kafka(fake_mvn)
    assert again.returncode == 0 and again.stdout == ""
    assert [ln.split("] ", 1)[1].split(" in ")[0] for ln in again.stderr.splitlines()] == [
        "fetch kafka: cached", "fetch kafka: done"]
    assert (tmp_path / "mvn-args").read_text() == args  # Maven not run again


def test_services_fetch_kafka_that_fails_shows_mavens_tail_and_keeps_nothing(fake_mvn, tmp_path):
    p = _fetch_kafka(dict(fake_mvn, FAKE_MVN_RC="1", FAKE_MVN_OUTPUT=str(DATA / "mvn-fail.txt")))
    assert p.returncode == 1
    assert "fetch kafka: failed (exit 1) after 0:0" in p.stderr
    assert "\n  [ERROR] Failed to execute goal" in p.stderr
    assert p.stderr.rstrip().endswith("ERROR: fetch kafka: Maven could not resolve the artifacts")
    assert not list((tmp_path / "cache").glob("kafka-*"))
