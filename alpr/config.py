"""Configuration: one typed settings object, from a YAML file and/or ``ALPR_*`` environment variables.

The embedded default and the production path differ only here:

===================  =========================  ======================================
setting              embedded default           production
===================  =========================  ======================================
runner               ``direct``                 ``flink`` (+ ``flink_master``)
source               ``synthetic:6``            ``kafka`` (frames topic)
inference            ``onnx`` (in-process)      ``triton+frames://127.0.0.1:18111``
store                ``sqlite:.run/alpr.db``    ``cassandra://127.0.0.1:19042/alpr``
alerts_sink          ``jsonl:.run/alerts.jsonl``  ``kafka`` (alerts topic)
deadletter_sink      ``store``                  ``kafka`` (dead-letter topic, and the store)
===================  =========================  ======================================

With ``runner: flink`` the Flink job reads frames from Kafka and writes alerts and dead letters
to Kafka, nothing else: ``source``, ``alerts_sink`` and ``deadletter_sink`` then default to
``kafka`` (:data:`FLINK_RUNNER_SETTINGS`), and any other value is an error naming the setting.
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


_TYPED = {"coerce_numbers_to_str": True}


class ConfigError(ValueError):
    """A setting is missing or out of range."""


#: what the Flink job reads and writes: with runner flink these are the defaults and the only values
FLINK_RUNNER_SETTINGS = {
    "source": ("kafka", "the job reads the frames topic"),
    "alerts_sink": ("kafka", "the job writes alerts with a KafkaSink"),
    "deadletter_sink": ("kafka", "the job writes dead letters to the dead-letter topic and the store"),
}


@dataclass(frozen=True)
class GroupingConfig:
    """Plate-group knobs, after Rekor/OpenALPR Watchman's ``plate_groups_*`` settings."""

    __pydantic_config__ = _TYPED  # YAML/env values: a camera id of 12 is the string '12'

    time_delta_s: float = 4.5      # wait this long for a similar read; resets on each match
    min_reads: int = 2             # reads needed before a group is matched against hotlists
    min_confidence: float = 80.0   # best-plate confidence needed before it is matched
    max_reads: int = 500           # flush even if the vehicle is still in view
    max_delay_s: float = 7.5       # flush a group once it is this old
    max_plate_distance: int = 2    # edit distance for a read to join an open group


@dataclass(frozen=True)
class KafkaConfig:
    __pydantic_config__ = _TYPED
    bootstrap: str = "127.0.0.1:19092"
    frames_topic: str = "frames"
    alerts_topic: str = "alerts"
    deadletter_topic: str = "deadletter"
    hotlist_topic: str = "hotlist"
    group_id: str = "alpr-pipeline"
    max_records: Optional[int] = None   # bounded read (tests, batch replays)
    idle_timeout_s: Optional[float] = None  # stop after this long without a record
    # SASL/SCRAM client credentials (infra/ starts Kafka closed: alpr.connectors.auth).
    # Unset: the ALPR_KAFKA__* environment, else PLAINTEXT (which a closed broker refuses).
    sasl_username: Optional[str] = None
    sasl_password_file: Optional[str] = None  # a secret file (0600); never the password itself
    sasl_mechanism: str = "SCRAM-SHA-512"
    security_protocol: Optional[str] = None   # default: SASL_PLAINTEXT with a username, else PLAINTEXT
    agency_alert_topics: bool = False         # also write each alert to <alerts_topic>.<agency>


@dataclass(frozen=True)
class CassandraConfig:
    """Cassandra credentials (PasswordAuthenticator); the password only ever from a secret file."""

    __pydantic_config__ = _TYPED
    username: Optional[str] = None
    password_file: Optional[str] = None


#: the state hints a recogniser takes (the 50 states and DC)
US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split())


@dataclass(frozen=True)
class Settings:
    __pydantic_config__ = _TYPED
    runner: str = "direct"                       # direct (Beam, in-process) | flink (the PyFlink job)
    flink_master: str = "[local]"                # --runner flink: the JobManager's host:port
    parallelism: int = 1
    source: str = "synthetic:6"                  # synthetic:N | folder path | video path | kafka
    camera_id: str = "cam-1"
    agency: str = "DHSPD"
    seed: int = 7
    inference: str = "onnx"                      # onnx | triton://host:port | triton+frames://host:port
    topn: int = 10
    country: str = "auto"                        # auto | us | eu ...: the recogniser's country hint (OpenALPR -c)
    state: Optional[str] = None                  # US state hint, e.g. CA (OpenALPR -p): formats re-rank reads
    fine_long_side: int = 1280                   # a second, finer detector pass where the first found no sure plate (0: off)
    batch_size: int = 8
    store: str = "sqlite:.run/alpr.db"           # sqlite:PATH | cassandra://host:port/keyspace
    retention_days: int = MIN_RETENTION_DAYS
    hotlist: Optional[str] = None                # path of a hotlist file (csv/ncic/clew)
    hotlist_refresh_s: float = 30.0
    alert_dedupe_s: float = 600.0
    alerts_sink: str = "jsonl:.run/alerts.jsonl"  # jsonl:PATH | kafka
    deadletter_sink: str = "store"               # store | kafka | jsonl:PATH
    print_results: bool = False                  # print reads/groups/alerts (plates!) to stdout: the demo's console
    debug_plates: bool = False                   # plates in stdout and logs for debugging (ALPR_DEBUG_PLATES=1, --debug)
    metrics_port: Optional[int] = None
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    cassandra: CassandraConfig = field(default_factory=CassandraConfig)

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
        if not (self.inference == "onnx" or self.inference.startswith(("triton://", "triton+frames://"))):
            raise ConfigError("inference must be 'onnx', 'triton://host:port' (tensors) or "
                              f"'triton+frames://host:port' (encoded frames), got {self.inference!r}")
        if not (self.store.startswith("sqlite:") or self.store.startswith("cassandra://")):
            raise ConfigError(f"store must be 'sqlite:PATH' or 'cassandra://host:port/keyspace', got {self.store!r}")
        if not (self.alerts_sink == "kafka" or (self.alerts_sink.startswith("jsonl:") and self.alerts_sink[6:])):
            raise ConfigError(f"alerts_sink must be 'jsonl:PATH' or 'kafka', got {self.alerts_sink!r}")
        if not (self.deadletter_sink in ("store", "kafka")
                or (self.deadletter_sink.startswith("jsonl:") and self.deadletter_sink[6:])):
            raise ConfigError(f"deadletter_sink must be 'store', 'kafka' or 'jsonl:PATH' (dead letters always go to "
                              f"the store as well), got {self.deadletter_sink!r}")
        if self.alert_dedupe_s <= 0:
            raise ConfigError("alert_dedupe_s must be > 0")
        if self.hotlist_refresh_s < 0:  # 0: the hotlist version is checked on every batch
            raise ConfigError("hotlist_refresh_s must be >= 0 (0: check the hotlist version on every batch)")
        if self.batch_size < 1 or self.parallelism < 1:
            raise ConfigError("batch_size and parallelism must be >= 1")
        if self.grouping.min_reads < 1 or self.grouping.time_delta_s <= 0:
            raise ConfigError("grouping.min_reads must be >= 1 and grouping.time_delta_s > 0")
        if not 1 <= self.topn <= 50:
            raise ConfigError("topn must be between 1 and 50")
        if self.fine_long_side < 0:
            raise ConfigError(f"fine_long_side must be >= 0 (0 turns the finer pass off), got {self.fine_long_side}")
        if self.state is not None and self.state.upper() not in US_STATES:
            raise ConfigError(f"state must be a US state or DC code such as CA, got {self.state!r}")
        if self.runner == "flink":
            _check_flink_runner(self)
        return self

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes).validate()


def _check_flink_runner(settings: Settings) -> None:
    """runner flink: the settings the Flink job does not honour are errors, not silently ignored."""
    for name, (allowed, why) in FLINK_RUNNER_SETTINGS.items():
        value = getattr(settings, name)
        if value != allowed:
            raise ConfigError(f"runner=flink needs {name}={allowed} ({why}), got {name}={value!r}: set it to "
                              f"{allowed} ({env_name((name,))}) or leave it unset, or use runner=direct")


def _runner_defaults(data: dict) -> dict:
    """runner flink: ``source``, ``alerts_sink`` and ``deadletter_sink`` default to ``kafka``
    where no layer set them (an explicit other value is refused by :meth:`Settings.validate`)."""
    if data.get("runner") == "flink":
        for name, (allowed, _) in FLINK_RUNNER_SETTINGS.items():
            data.setdefault(name, allowed)
    return data


ENV_PREFIX = "ALPR_"
# ALPR_* variables that belong to other components (CLI, governance, services, tests), not to Settings
OTHER_ENV = frozenset({
    "ALPR_CACHE", "ALPR_RUN", "ALPR_SERVICES", "ALPR_CONFIG", "ALPR_SERVICES_LOCK", "ALPR_SHARED_DATA",
    "ALPR_PYTHON", "ALPR_UP_TIMEOUT", "ALPR_STOP_TIMEOUT", "ALPR_VERSION", "ALPR_PROGRESS",
    "ALPR_METRICS_PORT_SPAN", "ALPR_EXPECTED_CAMERAS", "ALPR_CAMERA_OFFLINE_AFTER_S",
    "ALPR_METRICS_MAX_CAMERAS", "ALPR_METRICS_TOP_CAMERAS",  # alpr/observability/cameras.py
    "ALPR_PASSWORD", "ALPR_ADMIN_PASSWORD", "ALPR_NEW_PASSWORD", "ALPR_SECRETS_KEY", "ALPR_AUDIT_KEY",
    "ALPR_HOTLIST_ALLOW_PURE_PYTHON",
})
OTHER_ENV_PREFIXES = ("ALPR_GOV_", "ALPR_FLINK_ENV_", "ALPR_TEST_")
# settings that existed once: say why they went instead of only "unknown"
REMOVED = {
    "flink_version": "the Beam FlinkRunner is gone; the streaming job is the PyFlink job (alpr run --runner flink)",
    "flink_job_server_jar": "the Beam Flink job server is gone (its jar is not obtainable); Flink runs the PyFlink job",
    "environment_type": "the Beam worker pool is gone; Flink runs the PyFlink job's Python workers itself",
    "environment_config": "the Beam worker pool is gone; Flink runs the PyFlink job's Python workers itself",
}


def _fields(cls) -> dict:
    return {f.name: f for f in dataclasses.fields(cls)}


def _setting_paths(cls=None, prefix: tuple = ()) -> list[tuple]:
    """Every leaf setting as a path: ``("store",)``, ``("kafka", "max_records")``..."""
    cls = cls or Settings
    out = []
    defaults = cls()
    for name in _fields(cls):
        value = getattr(defaults, name)
        if dataclasses.is_dataclass(value):
            out += _setting_paths(type(value), prefix + (name,))
        else:
            out.append(prefix + (name,))
    return out


def env_name(path: tuple) -> str:
    return ENV_PREFIX + "__".join(p.upper() for p in path)


def _nearest(word: str, choices: list[str]) -> str:
    import difflib

    best = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"; did you mean {best[0]}?" if best else ""


def _unknown(name: str, choices: list[str], key: str) -> ConfigError:
    why = REMOVED.get(key)
    if why:
        return ConfigError(f"{name} is no longer a setting: {why}")
    return ConfigError(f"unknown setting {name}{_nearest(name, choices)}")


def _check_known(data: dict, cls, prefix: tuple, styler) -> None:
    """Raise for a key that is no setting, naming the nearest valid one (in ``styler``'s style)."""
    known = _fields(cls)
    defaults = cls()
    for key, value in data.items():
        if key not in known:
            raise _unknown(styler(prefix + (key,)), [styler(p) for p in _setting_paths()], key)
        current = getattr(defaults, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{styler(prefix + (key,))}: expected a mapping, got {value!r}")
            _check_known(value, type(current), prefix + (key,), styler)


def _merge(into: dict, data: dict) -> dict:
    for k, v in data.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v
    return into


def _typed(data: dict) -> Settings:
    """Build Settings with every value converted to its declared type (a number from the
    environment is a number: ``ALPR_KAFKA__MAX_RECORDS=100`` is ``int`` 100)."""
    from pydantic import TypeAdapter, ValidationError  # imported here: Flink workers unpickle Settings only

    try:
        return TypeAdapter(Settings).validate_python(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where} ({env_name(tuple(str(p) for p in err['loc']))}): {err['msg']}, "
                            f"got {err.get('input')!r}")
        raise ConfigError("bad setting: " + "; ".join(problems)) from None


def _env_data(env) -> dict:
    data: dict = {}
    choices = [env_name(p) for p in _setting_paths()] + sorted(OTHER_ENV)
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in OTHER_ENV or key.startswith(OTHER_ENV_PREFIXES):
            continue
        parts = [p for p in key[len(ENV_PREFIX):].lower().split("__")]
        node, cls = data, Settings
        for i, part in enumerate(parts):
            fields = _fields(cls) if cls else {}
            if part not in fields:
                raise _unknown(key, choices, part)
            default = getattr(cls(), part)
            if i == len(parts) - 1:
                if dataclasses.is_dataclass(default):
                    raise ConfigError(f"{key} is a group of settings; set its members, e.g. "
                                      f"{env_name(tuple(parts) + (next(iter(_fields(type(default)))),))}")
                node[part] = None if value == "" and default is None else value
            else:
                if not dataclasses.is_dataclass(default):
                    raise _unknown(key, choices, part)
                node = node.setdefault(part, {})
                cls = type(default)
    return data


def load_settings(path: str | Path | None = None, env: Optional[dict] = None, **overrides: Any) -> Settings:
    """Settings from (lowest to highest precedence) defaults, a YAML file, ``ALPR_*`` env vars
    (``ALPR_STORE``, ``ALPR_GROUPING__MIN_READS``...), then keyword overrides. Values are
    converted to their declared types; an unknown key (in any layer) is an error that names
    the nearest valid one. With runner flink, unset ``source``/``alerts_sink``/``deadletter_sink``
    are ``kafka``."""
    data: dict = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        _check_known(loaded, Settings, (), lambda p: ".".join(p))
        _merge(data, loaded)
    env = os.environ if env is None else env
    _merge(data, _env_data(env))
    given = {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v)
             for k, v in overrides.items() if v is not None}
    _check_known(given, Settings, (), lambda p: ".".join(p))
    _merge(data, given)
    return _typed(_runner_defaults(data)).validate()
