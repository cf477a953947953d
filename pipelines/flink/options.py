"""The Flink job's options that ``alpr run --runner flink`` passes on, in one place.

Two kinds: options of the job (``pipelines/flink/job.py``'s argparse, after ``--``) and options
of ``bin/flink run`` itself (restore from a savepoint). No PyFlink here: the CLI and the job
both import it.

Alert delivery: **exactly-once** by default (a transactional ``KafkaSink``; an alert becomes
visible to consumers reading with ``isolation.level=read_committed`` when the checkpoint that
holds it completes). ``at-least-once`` stays available: alerts leave at once, and consumers
deduplicate on the stable ``alert_id`` (``connectors/schemas/alert.v1.schema.json``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

DELIVERY = ("exactly-once", "at-least-once")
DEFAULT_DELIVERY = "exactly-once"
STARTING_OFFSETS = ("committed", "earliest", "latest")


# a URI scheme: s3://..., file:///..., and file:/tmp/... as Flink itself writes savepoint locations
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!\\)")


def _is_uri(path: str) -> bool:
    return bool(_SCHEME.match(path)) and not re.match(r"^[A-Za-z]:[\\/]", path)  # not a drive letter


def _uri(path: str) -> str:
    """A URI as given (``s3://...``, ``file:///...``); a plain path as an absolute ``file://`` URI."""
    return path if _is_uri(path) else Path(path).expanduser().resolve().as_uri()


def _path(path: str) -> str:
    """A savepoint location as given when it is a URI, else an absolute path (``flink run`` does not
    resolve a relative one against the caller's directory)."""
    return path if _is_uri(path) else str(Path(path).expanduser().resolve())


@dataclass(frozen=True)
class JobOptions:
    """``None``: the job's own default (exactly-once alerts, committed offsets, the cluster's
    checkpoint directory, no health topic)."""

    alerts_delivery: Optional[str] = None
    checkpoint_dir: Optional[str] = None
    health_topic: Optional[str] = None
    starting_offsets: Optional[str] = None
    from_savepoint: Optional[str] = None
    allow_non_restored_state: bool = False

    def __post_init__(self) -> None:
        if self.alerts_delivery is not None and self.alerts_delivery not in DELIVERY:
            raise ValueError(f"alerts delivery must be one of {', '.join(DELIVERY)}, got {self.alerts_delivery!r}")
        if self.starting_offsets is not None and self.starting_offsets not in STARTING_OFFSETS:
            raise ValueError(f"starting offsets must be one of {', '.join(STARTING_OFFSETS)}, "
                             f"got {self.starting_offsets!r}")
        if self.allow_non_restored_state and not self.from_savepoint:
            raise ValueError("--allow-non-restored-state only applies with --from-savepoint PATH")

    def job_args(self) -> list[str]:
        """Arguments of ``pipelines/flink/job.py`` (after ``--`` on the ``flink run`` line)."""
        out: list[str] = []
        if self.alerts_delivery:
            out += ["--alerts-delivery", self.alerts_delivery]
        if self.checkpoint_dir:
            out += ["--checkpoint-dir", _uri(self.checkpoint_dir)]
        if self.health_topic:
            out += ["--health-topic", self.health_topic]
        if self.starting_offsets:
            out += ["--starting-offsets", self.starting_offsets]
        return out

    def run_args(self) -> list[str]:
        """Options of ``bin/flink run`` (before ``-py``): restore the job's state from a savepoint."""
        if not self.from_savepoint:
            return []
        out = ["-s", _path(self.from_savepoint)]
        return out + ["--allowNonRestoredState"] if self.allow_non_restored_state else out

    @classmethod
    def from_args(cls, args) -> "JobOptions":
        """From ``alpr run``'s parsed arguments (absent attributes: the job's defaults)."""
        return cls(alerts_delivery=getattr(args, "alerts_delivery", None),
                   checkpoint_dir=getattr(args, "checkpoint_dir", None),
                   health_topic=getattr(args, "health_topic", None),
                   starting_offsets=getattr(args, "starting_offsets", None),
                   from_savepoint=getattr(args, "from_savepoint", None),
                   allow_non_restored_state=bool(getattr(args, "allow_non_restored_state", False)))
