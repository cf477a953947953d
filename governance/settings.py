"""Settings of the policy layer (all have safe defaults; override from YAML/env via the lead's config)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from alpr.connectors.stores.base import MIN_RETENTION_DAYS

from .purposes import DEFAULT_CASE_PATTERN, DEFAULT_PURPOSES


@dataclass(frozen=True)
class GovernanceSettings:
    db_path: str = ".run/governance.db"           # governance store (SQLite)
    read_store: str = "sqlite:.run/alpr.db"       # the engine's ReadStore/HotlistStore
    home_agency: str = "DHSPD"
    home_agency_name: str = "Desert Hot Springs Police Department"
    session_ttl_s: int = 8 * 3600                 # absolute session lifetime
    session_idle_s: int = 30 * 60                 # idle timeout
    max_failed_logins: int = 5
    lockout_s: int = 15 * 60
    enrol_valid_h: int = 72                       # one-time enrolment links expire
    argon2_time_cost: int = 3                     # argon2id parameters (argon2-cffi defaults)
    argon2_memory_kib: int = 65536
    inactivity_days: int = 90                     # suspend accounts idle this long (audit rec. 22)
    training_valid_days: int = 365               # default validity of a training record (461.8)
    purposes: dict = field(default_factory=lambda: dict(DEFAULT_PURPOSES))
    case_pattern: str = DEFAULT_CASE_PATTERN
    default_retention_days: int = MIN_RETENTION_DAYS
    sharing_california_only: bool = True          # AG Bulletin 2023-DLE-06
    share_max_days: int = 90                      # approved shares expire
    share_max_window_days: int = 90               # a share's time window is at most this long
    agreement_max_days: int = 365                 # a hotlist agreement's validity window is at most this long
    hotlist_entry_max_days: int = 30              # agency entries (audit rec. 48)
    retro_lookback_days: int = 30                 # new entries are matched against reads this old
    audit_interval_days: int = 30
    audit_sample_size: int = 10
    working_hours: tuple = (6, 22)                # searches outside [start, end) local time are flagged
    timezone: str = "America/Los_Angeles"
    max_searches_per_day: int = 50                # per user; more is flagged as unusual volume
    access_log_cassandra: Optional[str] = None    # "host:port/keyspace" to mirror the access log
    access_log_mirror: Optional[str] = None       # mirror spec: "sqlite:PATH" or "cassandra://host:port/ks"
    audit_key_file: str = ".run/keys/audit.key"   # HMAC chain + anchor signing key ($ALPR_AUDIT_KEY wins)
    secrets_key_file: str = ".run/keys/secrets.key"  # encrypts MFA secrets at rest ($ALPR_SECRETS_KEY wins)
    audit_anchor_file: Optional[str] = None       # signed head checkpoints (default: <db_path>.anchors.jsonl)
    audit_anchor_kafka: Optional[str] = None      # Kafka bootstrap servers to publish checkpoints to
    audit_anchor_topic: str = "alpr.audit.anchors"
    hotlist_kafka: Optional[str] = None           # Kafka bootstrap: publish entry and agreement changes to
    hotlist_topic: str = "hotlist"                # the compacted hotlist topic a running Flink job follows
    audit_anchor_every: int = 1                   # checkpoint every N access records (and each maintenance run)
    secure_cookies: bool = False                  # set True behind TLS
    evidence_dir: str = ".run/evidence"
    require_go_live: bool = True                 # data access only after the agency's go-live (1798.90.55(a))
    max_request_bytes: int = 64 * 1024            # larger request bodies are refused (413) before parsing
    maintenance_interval_s: int = 3600            # purge, inactivity suspension, audit sampling, share expiry

    def anchor_file(self) -> Optional[str]:
        if self.audit_anchor_file:
            return self.audit_anchor_file
        return None if self.db_path == ":memory:" else f"{self.db_path}.anchors.jsonl"

    def replace(self, **changes: Any) -> "GovernanceSettings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Optional[dict] = None, **overrides: Any) -> "GovernanceSettings":
        """``ALPR_GOV_<FIELD>`` environment variables override defaults (ints/bools converted)."""
        env = os.environ if env is None else env
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"ALPR_GOV_{f.name.upper()}")
            if raw is None or f.name in ("purposes", "working_hours"):
                continue
            default = getattr(cls(), f.name)
            if isinstance(default, bool):
                kw[f.name] = raw.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                kw[f.name] = int(raw)
            else:
                kw[f.name] = raw
        kw.update(overrides)
        return cls(**kw)
