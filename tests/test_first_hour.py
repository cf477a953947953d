"""The first hour with the product, cheap to check: `make test` ends on pytest's summary after the
slowest tests, building the package prints no packaging warning, and a large hotlist import
shows its progress on a pipe (a log or CI), not only on a terminal."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("alpr", "pipelines", "inference", "connectors", "governance")


def test_make_test_prints_the_slowest_tests_and_ends_on_pytests_summary():
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ARGS", "MAKEFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "-n", "test", "PYTEST_ARGS="], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=60)  # -n: prints the commands, runs none
    assert p.returncode == 0, p.stderr
    commands = [line for line in p.stdout.splitlines() if line.strip()]
    pytest_cmds = [c for c in commands if " -m pytest " in f" {c} "]
    assert len(pytest_cmds) == 1, commands
    argv = shlex.split(pytest_cmds[0])
    assert "--durations=15" in argv
    assert commands[-1] == pytest_cmds[0], "pytest must be the last command, so its summary line is the last output"
    assert argv[-1] == "tests" and "-q" not in argv


def test_building_the_package_prints_no_packaging_warning(tmp_path):
    """setup.py's data folders are packages ("fixed at their cause"): egg_info + build_py, the
    steps that warned once per data folder, say nothing about packages absent from the
    configuration. Built in a scratch tree so the checkout is not written to."""
    src = tmp_path / "src"
    src.mkdir()
    for folder in PACKAGE_FOLDERS:
        (src / folder).symlink_to(REPO / folder)
    shutil.copy(REPO / "setup.py", src / "setup.py")
    (tmp_path / "egg").mkdir()
    p = subprocess.run([sys.executable, "setup.py", "egg_info", "--egg-base", str(tmp_path / "egg"),
                        "build_py", "--build-lib", str(tmp_path / "lib")],
                       cwd=src, capture_output=True, text=True, timeout=300)
    output = p.stdout + p.stderr
    assert p.returncode == 0, output[-3000:]
    assert "absent from the" not in output and "_IncludePackageDataAbuse" not in output, output[-3000:]
    # the data files did ship (the warning's fix must not drop them)
    for data in ("alpr/inference/models/ppocr/rec.onnx", "alpr/governance/templates/base.html",
                 "alpr/connectors/schemas/alert.v1.schema.json"):
        assert (tmp_path / "lib" / data).is_file(), data


def _import(tmp_path, rows: int, login: list):
    csv = tmp_path / f"hot-{rows}.csv"
    lines = ["Plate Number,Description,Match Strategy"]
    lines += [f"{i // 676 % 26 + 65:c}{i // 26 % 26 + 65:c}{i % 26 + 65:c}{i % 10000:04d},row {i},exact"
              for i in range(rows - 1)]  # unique: (i mod 26**3, i mod 10**4) differ below their lcm
    csv.write_text("\n".join(lines))  # exactly `rows` lines, no trailing newline
    env = {k: v for k, v in os.environ.items() if k not in ("ALPR_PROGRESS",)}
    p = subprocess.run([sys.executable, "-m", "alpr.app.cli", "hotlist", "import", str(csv), "--list", "HOT",
                        "--store", f"sqlite:{tmp_path / f'h-{rows}.db'}", "--no-publish", *login],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"accepted={rows - 1}" in p.stdout, p.stdout
    return p


@pytest.fixture
def login(tmp_path, monkeypatch):
    """``alpr hotlist import`` logs an account in and needs a purpose and a case (tests/cli_accounts.py)."""
    from cli_accounts import CliAccounts

    return CliAccounts(tmp_path, monkeypatch).as_()


def test_a_20000_line_hotlist_import_shows_progress_on_a_pipe(tmp_path, login):
    p = _import(tmp_path, 20_000, login)
    progress = [l for l in p.stderr.splitlines() if l.startswith("hotlist rows: ")]
    assert progress, f"no progress line on a pipe:\n{p.stderr[-2000:]}"
    assert re.fullmatch(r"hotlist rows: 20000/20000 lines \(100%\), [\d.]+ lines/s, elapsed \d+:\d\d",
                        progress[-1]), progress
    assert "\r" not in p.stderr  # plain lines on a pipe, no carriage-return redraws


def test_a_small_hotlist_import_prints_no_progress(tmp_path, login):
    p = _import(tmp_path, 200, login)
    assert "hotlist rows: " not in p.stderr, p.stderr
