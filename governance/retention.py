"""Retention (461.4, Gov. Code 34090.6): per-agency period with a 365-day floor, counted from
each row's CAPTURE time. Setting it records it with the rows (the read store's
``agency_retention``, which the pipeline's writers read through
:func:`alpr.connectors.stores.base.ttl_seconds_for`) and re-expires the agency's stored rows;
the audited purge (``alpr maintenance run``) deletes rows past their retention on SQLite and
Cassandra alike. Reads under an evidence hold were copied to the evidence store when the hold
was placed: they leave general search with everything else and are kept there, and each purge
logs the holds it kept."""

from __future__ import annotations

import time
from typing import Callable, Optional

from alpr.connectors.stores.base import DAY_S, MIN_RETENTION_DAYS, ReadStore, RetentionStore, retention_ttl_s
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
        return max(s.days if s else self.default_days, MIN_RETENTION_DAYS)

    def ttl_seconds_for(self, agency: str, capture_ts: Optional[float] = None, now: Optional[float] = None) -> int:
        """TTL (seconds) a writer gives a row of ``agency`` captured at ``capture_ts`` (default: now):
        the retention counted from the capture time; 0 = past retention, do not write."""
        if capture_ts is None:
            return int(self.retention_days(agency) * DAY_S)
        return retention_ttl_s(capture_ts, self.retention_days(agency), self.clock() if now is None else now)

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
        rows = 0
        if isinstance(self.reads, RetentionStore):  # re-expire the agency's stored rows from capture time
            rows = self.reads.set_agency_retention(agency, days, setting.set_ts)
        self.guard.log.record(username=user.username, agency=user.agency, action="set_retention",
                              data_elements={**elements, "rows_re_expired": rows}, purpose_code="ADMIN",
                              channel=channel)
        return setting

    def list_holds(self, user: User, channel: str = "api") -> list:
        """The caller's agency's evidence holds (case numbers, reasons): checked by the guard
        (roles that may place holds) and logged as an access."""
        elements = {"holds": "list"}
        self.guard.check(user, Action.EVIDENCE_HOLD, channel=channel, data_elements=elements)
        holds = [h for h in self.store.list_holds() if h.agency == user.agency]
        self.guard.log.record(username=user.username, agency=user.agency, action="list_holds",
                              data_elements={**elements, "count": len(holds)}, purpose_code="ADMIN", channel=channel)
        return holds

    def held_read_ids(self) -> dict[tuple[str, str], list[str]]:
        """Read ids under an evidence hold, by (agency, case) (kept in the evidence store by every purge)."""
        return {(h.agency, h.case_number): [i.read_id for i in self.store.evidence_items(h.agency, h.case_number)]
                for h in self.store.list_holds()}

    def run_purge(self, actor: Optional[User] = None, now: Optional[float] = None, channel: str = "system") -> int:
        """Delete expired rows from the read store; the purge and its row count are audited."""
        if actor is not None:
            self.guard.check(actor, Action.RUN_PURGE, channel=channel, data_elements={"purge": True})
        now = self.clock() if now is None else now
        held = self.held_read_ids()
        kept = sorted({rid for ids in held.values() for rid in ids})
        try:
            n = self.reads.purge_expired(now)
            if isinstance(self.reads, RetentionStore):
                for setting in self.store.list_retention():  # the store applies the latest settings
                    if self.reads.agency_retention_days(setting.agency) != setting.days:
                        self.reads.set_agency_retention(setting.agency, setting.days, now)
                n += self.reads.purge_past_retention(now, self.default_days)
        except Exception:
            record_purge(0, ok=False)
            raise
        record_purge(n, ok=True)
        self.guard.log.record(username=actor.username if actor else "system",
                              agency=actor.agency if actor else "*", action="purge_expired",
                              data_elements={"rows_purged": n, "as_of": now, "evidence_reads_kept": len(kept),
                                             "evidence_cases": sorted({case for _, case in held})},
                              purpose_code="RETENTION", channel=channel)
        return n

