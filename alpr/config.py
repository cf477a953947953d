"""Configuration: one typed settings object, from a YAML file and/or ``ALPR_*`` environment variables.

The embedded default and the production path differ only here:

===================  =========================  ======================================
setting              embedded default           production
===================  =========================  ======================================
runner               ``direct``                 ``flink`` (+ ``flink_master``)
source               ``synthetic:6``            ``kafka`` (frames topic)
inference            ``onnx`` (in-process)      ``triton://127.0.0.1:18111``
store                ``sqlite:.run/alpr.db``    ``cassandra://127.0.0.1:19042/alpr``
alerts_sink          ``jsonl:.run/alerts.jsonl``  ``kafka`` (alerts topic)
===================  =========================  ======================================
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

DAY_S = 86_400
MIN_RETENTION_DAYS = 365  # policy 461.4 / Gov. Code 34090.6 floor


class ConfigError(ValueError):
    """A setting is missing or out of range."""


@dataclass(frozen=True)
class GroupingConfig:
    """Plate-group knobs, after Rekor/OpenALPR Watchman's ``plate_groups_*`` settings."""

    time_delta_s: float = 4.5      # wait this long for a similar read; resets on each match
    min_reads: int = 2             # reads needed before a group is matched against hotlists
    min_confidence: float = 80.0   # best-plate confidence needed before it is matched
    max_reads: int = 500           # flush even if the vehicle is still in view
    max_delay_s: float = 7.5       # flush a group once it is this old
    max_plate_distance: int = 2    # edit distance for a read to join an open group


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap: str = "127.0.0.1:19092"
    frames_topic: str = "frames"
    alerts_topic: str = "alerts"
    deadletter_topic: str = "deadletter"
    hotlist_topic: str = "hotlist"
    group_id: str = "alpr-pipeline"
    max_records: Optional[int] = None   # bounded read (tests, batch replays)
    idle_timeout_s: Optional[float] = None  # stop after this long without a record


@dataclass(frozen=True)
class Settings:
    runner: str = "direct"                       # direct | flink
    flink_master: str = "[local]"
    flink_version: str = "1.19"
    flink_job_server_jar: Optional[str] = None
    environment_type: Optional[str] = None       # LOOPBACK | EXTERNAL
    environment_config: Optional[str] = None
    parallelism: int = 1
    source: str = "synthetic:6"                  # synthetic:N | folder path | video path | kafka
    camera_id: str = "cam-1"
    agency: str = "DHSPD"
    seed: int = 7
    inference: str = "onnx"                      # onnx | triton://host:port
    topn: int = 10
    batch_size: int = 8
    store: str = "sqlite:.run/alpr.db"           # sqlite:PATH | cassandra://host:port/keyspace
    retention_days: int = MIN_RETENTION_DAYS
    hotlist: Optional[str] = None                # path of a hotlist file (csv/ncic/clew)
    hotlist_refresh_s: float = 30.0
    alert_dedupe_s: float = 600.0
    alerts_sink: str = "jsonl:.run/alerts.jsonl"  # jsonl:PATH | kafka
    deadletter_sink: str = "store"               # store | kafka | jsonl:PATH
    print_results: bool = True
    metrics_port: Optional[int] = None
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)

    @property
    def ttl_s(self) -> int:
        return int(self.retention_days * DAY_S)

    def validate(self) -> "Settings":
        if self.retention_days < MIN_RETENTION_DAYS:
            raise ConfigError(
                f"retention_days={self.retention_days} is below the policy floor of "
                f"{MIN_RETENTION_DAYS} days (policy 461.4, Gov. Code 34090.6)")
        if self.runner not in ("direct", "flink"):
            raise ConfigError(f"runner must be 'direct' or 'flink', got {self.runner!r}")
        if not (self.inference == "onnx" or self.inference.startswith("triton://")):
            raise ConfigError(f"inference must be 'onnx' or 'triton://host:port', got {self.inference!r}")
        if not (self.store.startswith("sqlite:") or self.store.startswith("cassandra://")):
            raise ConfigError(f"store must be 'sqlite:PATH' or 'cassandra://host:port/keyspace', got {self.store!r}")
        if self.grouping.min_reads < 1 or self.grouping.time_delta_s <= 0:
            raise ConfigError("grouping.min_reads must be >= 1 and grouping.time_delta_s > 0")
        if not 1 <= self.topn <= 50:
            raise ConfigError("topn must be between 1 and 50")
        return self

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes).validate()


def _convert(current: Any, raw: Any, name: str) -> Any:
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        return str(raw).lower() in ("1", "true", "yes", "on")
    if isinstance(current, int) and not isinstance(current, bool):
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from exc
    if isinstance(current, float):
        try:
            return float(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from exc
    return raw


def _build(cls, data: dict, prefix: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(prefix + u for u in unknown))}")
    defaults = cls()
    kwargs = {}
    for name, value in data.items():
        current = getattr(defaults, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{name}: expected a mapping")
            kwargs[name] = _build(type(current), value, f"{prefix}{name}.")
        elif value is None:
            kwargs[name] = None
        else:
            kwargs[name] = _convert(current, value, prefix + name) if current is not None else value
    return cls(**kwargs)


def load_settings(path: str | Path | None = None, env: Optional[dict] = None, **overrides: Any) -> Settings:
    """Settings from (lowest to highest precedence) defaults, a YAML file, ``ALPR_*`` env vars
    (``ALPR_STORE``, ``ALPR_GROUPING__MIN_READS``...), then keyword overrides."""
    data: dict = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data.update(loaded)
    env = os.environ if env is None else env
    for key, value in env.items():
        if not key.startswith("ALPR_") or key in ("ALPR_CACHE", "ALPR_RUN", "ALPR_SERVICES", "ALPR_CONFIG"):
            continue
        parts = key[5:].lower().split("__")
        if parts[0] not in {f.name for f in dataclasses.fields(Settings)}:
            continue
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    return _build(Settings, data, "").validate()
