"""Retention (461.4, Gov. Code 34090.6): per-agency period with a 365-day floor, the TTL
fed to the stores, and the audited purge job on the embedded store."""

from __future__ import annotations

import time
from typing import Callable, Optional

from alpr.connectors.stores.base import DAY_S, MIN_RETENTION_DAYS, ReadStore
from alpr.observability.metrics import record_purge

from .errors import PolicyViolation, ValidationError
from .guard import Guard
from .models import RetentionSetting, User
from .roles import Action

MAX_RETENTION_DAYS = 5 * 365


class RetentionService:
    def __init__(self, guard: Guard, reads: ReadStore, default_days: int = MIN_RETENTION_DAYS,
                 clock: Callable[[], float] = time.time):
        if default_days < MIN_RETENTION_DAYS:
            raise PolicyViolation(f"default retention {default_days} days is below the {MIN_RETENTION_DAYS}-day floor")
        self.guard, self.reads, self.default_days, self.clock = guard, reads, default_days, clock
        self.store = guard.auth.store

    def retention_days(self, agency: str) -> int:
        s = self.store.get_retention(agency)
        return s.days if s else self.default_days

    def ttl_seconds_for(self, agency: str) -> int:
        """TTL (seconds) that writers of ``agency``'s reads must use."""
        return int(self.retention_days(agency) * DAY_S)

    def set_retention(self, user: User, agency: str, days: int, channel: str = "api") -> RetentionSetting:
        elements = {"agency": agency, "days": days}
        self.guard.check(user, Action.SET_RETENTION, channel=channel, data_elements=elements, agency=agency)
        try:
            days = int(days)
            if days < MIN_RETENTION_DAYS:
                raise PolicyViolation(f"retention of {days} days is below the {MIN_RETENTION_DAYS}-day minimum "
                                      "(policy 461.4, Gov. Code 34090.6)")
            if days > MAX_RETENTION_DAYS:
                raise ValidationError(f"retention above {MAX_RETENTION_DAYS} days is not supported")
        except (ValueError, TypeError) as exc:
            err = ValidationError(f"retention days must be an integer: {exc}")
            self.guard.deny(user, "set_retention", err, channel, elements)
            raise err from exc
        except (PolicyViolation, ValidationError) as exc:
            self.guard.deny(user, "set_retention", exc, channel, elements)
            raise
        setting = RetentionSetting(agency, days, user.username, self.clock())
        self.store.put_retention(setting)
        self.guard.log.record(username=user.username, agency=user.agency, action="set_retention",
                              data_elements=elements, purpose_code="ADMIN", channel=channel)
        return setting

    def run_purge(self, actor: Optional[User] = None, now: Optional[float] = None, channel: str = "system") -> int:
        """Delete expired rows from the read store; the purge and its row count are audited."""
        if actor is not None:
            self.guard.check(actor, Action.RUN_PURGE, channel=channel, data_elements={"purge": True})
        now = self.clock() if now is None else now
        try:
            n = self.reads.purge_expired(now)
        except Exception:
            record_purge(0, ok=False)
            raise
        record_purge(n, ok=True)
        self.guard.log.record(username=actor.username if actor else "system",
                              agency=actor.agency if actor else "*", action="purge_expired",
                              data_elements={"rows_purged": n, "as_of": now}, purpose_code="RETENTION",
                              channel=channel)
        return n
