"""Where the Flink pieces are: the Flink home, the job environment's interpreter and the jars
the job needs. Same rules as ``infra/services.sh`` (``ALPR_CACHE``, ``infra/versions.env``);
``FLINK_HOME``, ``FLINK_ENV_PYTHON`` and ``FLINK_JOB_JARS`` (``:``-separated) override them
(the container image sets them)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]


def versions_env(repo: Path = REPO) -> dict[str, str]:
    out: dict[str, str] = {}
    path = repo / "infra" / "versions.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                k, _, v = line.partition("=")
                out[k.strip()] = os.environ.get(k.strip(), v)
    return out


class FlinkError(RuntimeError):
    """Submission failed or the cluster answered with an error (``alpr run`` reports it in one line)."""


class FlinkEnvironmentMissing(FlinkError):
    """The Flink home, the job environment's interpreter or a job jar is not there."""


@dataclass(frozen=True)
class FlinkPaths:
    home: Path          # bin/flink, lib/, plugins/
    python: Path        # interpreter of the Flink job environment (client and Python workers)
    jars: tuple[Path, ...]  # flink-sql-connector-kafka + alpr-flink.jar

    def missing(self) -> list[str]:
        out = [str(p) for p in (self.home / "bin" / "flink", self.python) if not p.exists()]
        return out + [str(j) for j in self.jars if not j.exists()]

    def check(self) -> "FlinkPaths":
        gone = self.missing()
        if gone:
            more = f" and {len(gone) - 1} more" if len(gone) > 1 else ""
            raise FlinkEnvironmentMissing(f"job environment not found ({gone[0]}{more} missing)")
        return self


def flink_paths(cache: Optional[str] = None) -> FlinkPaths:
    env = versions_env()
    version = env.get("FLINK_VERSION", "2.2.0")
    connector = env.get("FLINK_KAFKA_CONNECTOR_VERSION", "5.0.0-2.2")
    tag = f"{sys.version_info[0]}.{sys.version_info[1]}"
    root = Path(cache or os.environ.get("ALPR_CACHE") or REPO / ".cache")
    venv = root / f"flink-env-{version}-py{tag}"
    home = Path(os.environ.get("FLINK_HOME") or venv / "lib" / f"python{tag}" / "site-packages" / "pyflink")
    python = Path(os.environ.get("FLINK_ENV_PYTHON") or venv / "bin" / "python")
    if os.environ.get("FLINK_JOB_JARS"):
        jars = tuple(Path(j) for j in os.environ["FLINK_JOB_JARS"].split(":") if j)
    else:
        jars = (root / f"flink-sql-connector-kafka-{connector}" / f"flink-sql-connector-kafka-{connector}.jar",
                root / f"flink-alpr-{version}" / "alpr-flink.jar")
    return FlinkPaths(home, python, jars)
