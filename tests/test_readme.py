"""The README is exactly true: its runnable commands run, every `alpr` flag and `make` target it
names exists, every repository path it names is there, and its configuration defaults are the
code's (alpr.config.Settings is the one source; this test fails when the two drift apart)."""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from alpr.app.cli import build_parser
from alpr.config import Settings

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def code_texts() -> list[str]:
    """Inline code spans and fenced block lines."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", README, re.S)
    prose = re.sub(r"```[a-z]*\n.*?```", "", README, flags=re.S)
    return [line for block in fenced for line in block.splitlines()] + re.findall(r"`([^`\n]+)`", prose)


def runnable_blocks() -> list[list[str]]:
    blocks = re.findall(r"<!-- runnable -->\s*```bash\n(.*?)```", README, re.S)
    return [[l.strip() for l in b.splitlines() if l.strip() and not l.strip().startswith("#")] for b in blocks]


# --------------------------------------------------------------------------- commands run
def test_runnable_blocks_run_and_reproduce_the_committed_pictures(tmp_path):
    blocks = runnable_blocks()
    assert blocks, "no <!-- runnable --> block in the README"
    work = tmp_path / "repo"
    (work / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(REPO / "benchmarks" / "plots.py", work / "benchmarks")
    shutil.copy(REPO / "benchmarks" / "results" / "latest.json", work / "benchmarks" / "results")
    (work / ".venv").symlink_to(Path(sys.prefix))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               ALPR_PROGRESS="off")
    clip = None
    for block in blocks:
        for line in block:
            argv = shlex.split(line)
            argv = [a.replace("/tmp/readme-clip", str(tmp_path / "readme-clip")) for a in argv]
            clip = clip or next((a for a in argv if a.endswith("readme-clip")), None)
            p = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
            assert p.returncode == 0, f"{line}\n{p.stderr[-2000:]}"
    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        committed, regenerated = REPO / img, work / img
        assert committed.is_file() and regenerated.is_file(), img
        a, b = cv2.imread(str(committed)), cv2.imread(str(regenerated))
        assert a.shape == b.shape, img
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 3.0, f"{img} differs from what the commands make"


# --------------------------------------------------------------------------- flags, targets, paths
def _subparsers(parser: argparse.ArgumentParser) -> dict:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def documented_alpr_commands():
    for text in code_texts():
        for m in re.finditer(r"(?:^|[\s(])alpr ((?:--?[a-z][a-z-]* )*)([a-z][a-z-]*)((?: [^|`]*)?)", text):
            yield m.group(0).strip(), m.group(1).split(), m.group(2), m.group(3)


def test_every_documented_alpr_flag_exists():
    root = build_parser()
    checked = 0
    for whole, global_flags, command, rest in documented_alpr_commands():
        for g in global_flags:
            assert g in _options(root), f"README: `{whole}`: alpr has no {g}"
        subs = _subparsers(root)
        assert command in subs, f"README: `{whole}`: no command {command!r}"
        parser = subs[command]
        words = rest.split()
        for alt in (words[0].split("/") if words and re.fullmatch(r"[a-z-]+(/[a-z-]+)+", words[0]) else []):
            assert alt in _subparsers(parser), f"README: `{whole}`: no {command} {alt}"
        if words and words[0] in _subparsers(parser):
            parser = _subparsers(parser)[words[0]]
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])", rest):
            if flag in ("--replace|--incremental",):
                continue
            assert flag in _options(parser) or flag in _options(root), f"README: `{whole}`: no {flag}"
            checked += 1
    assert checked >= 15  # the README documents flags; a broken pattern would check none


def test_every_documented_make_target_exists():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    documented = {t for text in code_texts() for t in re.findall(r"\bmake ([a-z][a-z-]+)", text)}
    assert documented and documented <= targets, documented - targets


TOP = ("alpr/", "connectors/", "pipelines/", "inference/", "governance/", "benchmarks/", "infra/", "tests/",
       "docs/")


def test_every_repository_path_named_exists():
    missing = []
    for text in code_texts():
        for path in re.findall(r"(?<![\w./-])((?:%s)[\w./-]*)" % "|".join(re.escape(t) for t in TOP), text):
            path = path.rstrip(".,")
            if "*" in path or path.endswith(("latest-latency.png", "eval_accuracy.png")):
                continue  # generated by make bench / make eval
            if not (REPO / path).exists():
                missing.append(path)
    assert not missing, f"README names paths that do not exist: {sorted(set(missing))}"


# --------------------------------------------------------------------------- defaults from one source
def _config_rows() -> dict[str, str]:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`([a-z_.*]+)`\s*\|\s*(.*?)\s*\|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_configuration_table_defaults_are_the_codes():
    s = Settings()
    rows = _config_rows()
    assert {"runner", "source", "inference", "store", "retention_days", "grouping.*"} <= set(rows)
    for name, cell in rows.items():
        if name == "grouping.*":
            pairs = dict(re.findall(r"`(\w+)` ([\d.]+)", cell))
            assert pairs, cell
            for key, value in pairs.items():
                assert float(getattr(s.grouping, key)) == float(value), f"grouping.{key}: README {value}"
            continue
        default = getattr(s, name)
        first = re.match(r"`([^`]+)`|([\d.]+)|(unset)", cell)
        assert first, f"{name}: cannot read the README default {cell!r}"
        shown = first.group(1) or first.group(2)
        if default is None:
            assert first.group(3) == "unset", f"{name}: code default is unset, README says {cell!r}"
        elif isinstance(default, (int, float)):
            assert float(shown) == float(default), f"{name}: README {shown}, code {default}"
        else:
            assert shown == str(default), f"{name}: README {shown!r}, code {default!r}"


def test_hotlist_import_store_default_is_the_configured_store():
    """The README says imports write to the configured store; the CLI has no default of its own."""
    hotlist = _subparsers(build_parser())["hotlist"]
    store = next(a for a in _subparsers(hotlist)["import"]._actions if "--store" in a.option_strings)
    assert store.default is None and Settings().store in store.help


def test_every_documented_alpr_variable_is_read_by_the_code():
    """An ``ALPR_*`` variable the README names is a setting (``ALPR_PARALLELISM`` is
    ``Settings.parallelism``) or one of the other components' (``alpr.config.OTHER_ENV``)."""
    from alpr.config import OTHER_ENV, OTHER_ENV_PREFIXES, _setting_paths, env_name

    known = {env_name(p) for p in _setting_paths()} | OTHER_ENV
    wrong_on_purpose = set(re.findall(r"unknown setting (ALPR_\w+)", README))  # the error-message example
    names = set(re.findall(r"\bALPR_[A-Z0-9_]*[A-Z0-9]", README)) - wrong_on_purpose
    assert len(names) >= 10  # the pattern finds the documented variables
    unknown = [n for n in names
               if n not in known and not n.startswith(OTHER_ENV_PREFIXES) and n + "_" not in OTHER_ENV_PREFIXES]
    assert not unknown, f"README names variables nothing reads: {sorted(unknown)}"


FLAT_README = " ".join(README.split())  # a phrase broken over two lines is still found


@pytest.mark.parametrize("phrase", [
    "--format native", "alpr/cli.py", "alpr/demo.py", "alpr/hotlist/cli.py", "in 38.9s",
    "job-server:2.77.0 on Maven",
    # Beam does not run on Flink here: the streaming job is PyFlink (pipelines/flink/)
    "DirectRunner embedded, **Apache Flink** at scale",
    "run unchanged on the DirectRunner and on Flink",
    "one snapshot range per partition is read in parallel",
    "FlinkRunner overhead", "no Beam Flink job server jar here",
    "could not be run here without the job server jar", "Beam's portable SDF support",
    "wip/flink-progress-clock",  # no such branch
    # production streaming is the PyFlink job; the Beam graph runs in process (embedded default,
    # bounded backfills/replays), and the snapshot benchmark measures that replay, not production
    "Beam pipeline (pipelines/)", "the pipeline as shipped", "back-to-back DirectRunner snapshots",
])
def test_stale_claims_are_gone(phrase):
    assert phrase not in FLAT_README


def test_infra_readme_names_the_services_and_versions_services_sh_has():
    """infra/README.md lists what ``infra/services.sh`` starts (a Beam job server and worker pool
    were listed long after they went) at the versions of ``infra/versions.env``."""
    infra = (REPO / "infra" / "README.md").read_text()
    script = (REPO / "infra" / "services.sh").read_text()
    services = re.search(r"^ALL=\(([^)]*)\)", script, re.M).group(1).split()
    usage = re.search(r"services\.sh \{fetch\|up\|down\|status\} \[([a-z|]+)\]", infra).group(1).split("|")
    assert usage == services + ["all"]
    table = {m for m in re.findall(r"^\| ([a-z]+) \|", infra, re.M)} - {"service"}
    assert table == set(services)
    versions = dict(l.split("=", 1) for l in (REPO / "infra" / "versions.env").read_text().splitlines()
                    if l.strip() and not l.startswith("#"))
    flink_row = next(l for l in infra.splitlines() if l.startswith("| flink |"))
    assert f"Flink {versions['FLINK_VERSION']} " in flink_row
    for name in re.findall(r"\bmaven/\{([a-z,]+)\}", infra)[0].split(","):
        assert (REPO / "infra" / "maven" / name / "pom.xml").is_file(), name
    flat = " ".join(infra.split())
    for stale in ("BEAM_FLINK_JOB_SERVER_JAR", "worker_pool_main", "BEAM_WORKER_POOL_PORT", "fetch jobserver"):
        assert stale not in flat
