"""Audits of system use (461.5(c), 1798.90.53; State Auditor F10).

* scheduled random sampling of searches for an auditor to review, record findings and sign off;
* a report of searches by user, purpose and agency;
* anomaly flags: a case number that matches no known case, searches at unusual hours,
  unusual volume per user and day.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime
from typing import Callable, Optional
from zoneinfo import ZoneInfo

from .errors import Conflict, NotFound, ValidationError
from .guard import Guard
from .models import AccessRecord, AuditSample, User
from .roles import Action

DAY_S = 86_400
SEARCH_ACTIONS = frozenset({"search_reads", "list_alerts", "evidence_hold", "share_fulfil", "evidence_export",
                            "hotlist_add", "hotlist_import", "hotlist_lookback", "alert_history"})


class AuditService:
    def __init__(self, guard: Guard, *, interval_days: int = 30, sample_size: int = 10,
                 working_hours: tuple = (6, 22), timezone: str = "America/Los_Angeles",
                 max_searches_per_day: int = 50, clock: Callable[[], float] = time.time):
        self.guard, self.clock = guard, clock
        self.store = guard.auth.store
        self.interval_days, self.sample_size = interval_days, sample_size
        self.working_hours, self.tz, self.max_per_day = working_hours, ZoneInfo(timezone), max_searches_per_day

    def _searches(self, agency: Optional[str], start: Optional[float], end: Optional[float]) -> list[AccessRecord]:
        return [r for r in self.store.access_records(since_ts=start, until_ts=end)
                if r.action in SEARCH_ACTIONS and r.outcome == "allowed" and (agency is None or r.agency == agency)]

    # -- sampling ------------------------------------------------------------------
    def create_sample(self, user: Optional[User], period_start: float, period_end: float,
                      size: Optional[int] = None, seed: Optional[int] = None, channel: str = "api",
                      agency: Optional[str] = None) -> AuditSample:
        """A sample of one agency's searches (the user's agency; ``agency`` for the scheduler)."""
        elements = {"period": [period_start, period_end], "size": size}
        if user is not None:
            self.guard.check(user, Action.RUN_AUDITS, channel=channel, data_elements=elements)
            agency = user.agency
        try:
            if period_end <= period_start:
                raise ValidationError("audit period end must be after its start")
            if size is not None and not 1 <= size <= 1000:
                raise ValidationError("sample size must be between 1 and 1000")
        except ValidationError as exc:
            if user is not None:
                self.guard.deny(user, Action.RUN_AUDITS.value, exc, channel, elements)
            raise
        if agency is None:
            raise ValidationError("an audit sample belongs to one agency")
        pool = self._searches(agency, period_start, period_end)
        k = min(size or self.sample_size, len(pool))
        picked = sorted(r.seq for r in random.Random(seed).sample(pool, k)) if k else []
        audit = AuditSample(uuid.uuid4().hex[:12], self.clock(), user.username if user else "scheduler",
                            period_start, period_end, tuple(picked), agency=agency)
        self.store.put_audit(audit)
        self.guard.log.record(username=audit.created_by, agency=agency, action="audit_sample",
                              data_elements={"audit_id": audit.audit_id, "sampled": len(picked), "pool": len(pool)},
                              purpose_code="AUDIT", channel=channel)
        return audit

    def run_scheduled(self, now: Optional[float] = None) -> Optional[AuditSample]:
        """Create a sample of the last interval when none was made within it (call from cron/serve)."""
        now = self.clock() if now is None else now
        interval = self.interval_days * DAY_S
        agencies = sorted({a.agency_id for a in self.store.list_agencies()} |
                          {u.agency for u in self.store.list_users()} - {"PLATFORM"})
        made = None
        for agency in agencies:  # one sample per agency, each of its own searches only
            last = max((a.created_ts for a in self.store.list_audits() if a.agency == agency), default=None)
            if last is not None and now - last < interval:
                continue
            made = self.create_sample(None, now - interval, now, channel="system", agency=agency) or made
        return made

    def list_audits(self, user: User, channel: str = "api") -> list[AuditSample]:
        """The caller's agency's audit samples (the guard: roles that may read the access log)."""
        self.guard.check(user, Action.VIEW_ACCESS_LOG, channel=channel, data_elements={"audits_of": user.agency})
        return [a for a in self.store.list_audits() if a.agency == user.agency]

    def record_finding(self, user: User, audit_id: str, seq: int, result: str, note: str = "",
                       channel: str = "api") -> AuditSample:
        self.guard.check(user, Action.SIGN_AUDITS, channel=channel, data_elements={"audit_id": audit_id, "seq": seq})
        audit = self._get(audit_id, user, channel)
        with self.guard.refusing(user, "audit_finding", channel, {"audit_id": audit_id, "seq": seq}, "AUDIT"):
            if audit.status != "open":
                raise Conflict(f"audit {audit_id} is already signed")
            if seq not in audit.sample_seqs:
                raise ValidationError(f"record {seq} is not in the sample of audit {audit_id}")
            if result not in ("ok", "concern"):
                raise ValidationError("result must be 'ok' or 'concern'")
            if result == "concern" and not note.strip():
                raise ValidationError("describe the concern")
        findings = tuple(f for f in audit.findings if f["seq"] != seq) + (
            {"seq": seq, "result": result, "note": note.strip(), "by": user.username, "ts": self.clock()},)
        audit = replace(audit, findings=findings)
        self.store.put_audit(audit)
        self.guard.log.record(username=user.username, agency=user.agency, action="audit_finding",
                              data_elements={"audit_id": audit_id, "seq": seq, "result": result},
                              purpose_code="AUDIT", channel=channel)
        return audit

    def sign_off(self, user: User, audit_id: str, summary: str, channel: str = "api") -> AuditSample:
        self.guard.check(user, Action.SIGN_AUDITS, channel=channel, data_elements={"audit_id": audit_id})
        audit = self._get(audit_id, user, channel)
        missing = set(audit.sample_seqs) - {f["seq"] for f in audit.findings}
        with self.guard.refusing(user, "audit_sign", channel, {"audit_id": audit_id}, "AUDIT"):
            if missing:
                raise Conflict(f"review every sampled record before signing; missing {sorted(missing)}")
            if audit.status != "open":
                raise Conflict(f"audit {audit_id} is already signed")
        audit = replace(audit, status="signed", signed_by=user.username, signed_ts=self.clock(),
                        summary=summary.strip())
        self.store.put_audit(audit)
        self.guard.log.record(username=user.username, agency=user.agency, action="audit_sign",
                              data_elements={"audit_id": audit_id,
                                             "concerns": sum(f["result"] == "concern" for f in audit.findings)},
                              purpose_code="AUDIT", channel=channel)
        return audit

    def _get(self, audit_id: str, user: User, channel: str) -> AuditSample:
        """The audit, only if it belongs to the user's agency (another agency's is 'not found', logged)."""
        audit = self.store.get_audit(audit_id)
        return self.guard.owned(user, Action.SIGN_AUDITS, audit, audit.agency if audit else None,
                                f"audit {audit_id!r}", channel=channel, data_elements={"audit_id": audit_id})

    # -- reports -------------------------------------------------------------------
    def anomalies(self, agency: Optional[str], start: Optional[float] = None,
                  end: Optional[float] = None) -> list[dict]:
        known = self.store.known_cases(agency)
        flags: list[dict] = []
        per_day: dict[tuple[str, str], list[int]] = defaultdict(list)
        lo, hi = self.working_hours
        for r in self._searches(agency, start, end):
            local = datetime.fromtimestamp(r.ts, self.tz)
            if r.case_number and r.case_number not in known:
                flags.append({"seq": r.seq, "username": r.username, "kind": "case-not-found",
                              "detail": f"case {r.case_number} matches no known case"})
            if not lo <= local.hour < hi:
                flags.append({"seq": r.seq, "username": r.username, "kind": "unusual-hour",
                              "detail": f"search at {local:%H:%M} local time"})
            per_day[(r.username, local.date().isoformat())].append(r.seq)
        for (username, day), seqs in per_day.items():
            if len(seqs) > self.max_per_day:
                flags.append({"seq": seqs[0], "username": username, "kind": "unusual-volume",
                              "detail": f"{len(seqs)} searches on {day} (threshold {self.max_per_day})"})
        return flags

    def report(self, user: User, start: Optional[float] = None, end: Optional[float] = None,
               channel: str = "api") -> dict:
        self.guard.check(user, Action.VIEW_ACCESS_LOG, channel=channel, data_elements={"report": [start, end]})
        rows = self._searches(user.agency, start, end)
        report = {
            "agency": user.agency, "start": start, "end": end, "searches": len(rows),
            "by_user": dict(Counter(r.username for r in rows)),
            "by_purpose": dict(Counter(r.purpose_code for r in rows)),
            "by_agency": dict(Counter(r.agency for r in rows)),
            "anomalies": self.anomalies(user.agency, start, end),
            "audits": [a.audit_id for a in self.list_audits(user, channel)],
        }
        self.guard.log.record(username=user.username, agency=user.agency, action="audit_report",
                              data_elements={"start": start, "end": end, "searches": len(rows)},
                              purpose_code="AUDIT", channel=channel)
        return report

    def access_log_page(self, user: User, *, offset: int = 0, limit: int = 50, username: Optional[str] = None,
                        action: Optional[str] = None, outcome: Optional[str] = None,
                        channel: str = "api") -> tuple[list[AccessRecord], int]:
        """One page of the agency's access log, newest first, filtered; returns (rows, total matching)."""
        elements = {"username": username, "action": action, "outcome": outcome, "offset": offset}
        self.guard.check(user, Action.VIEW_ACCESS_LOG, channel=channel, data_elements=elements)
        rows = [r for r in reversed(self.store.access_records()) if r.agency == user.agency
                and (not username or r.username == username) and (not action or r.action == action)
                and (not outcome or r.outcome == outcome)]
        page = rows[offset:offset + limit]
        self.guard.log.record(username=user.username, agency=user.agency, action="view_access_log",
                              data_elements={**elements, "rows": len(page)}, purpose_code="AUDIT", channel=channel)
        return page, len(rows)

    def access_log(self, user: User, since_ts: Optional[float] = None, limit: int = 200,
                   channel: str = "api") -> list[AccessRecord]:
        """The access log of the user's agency, newest first (auditors, administrators)."""
        self.guard.check(user, Action.VIEW_ACCESS_LOG, channel=channel, data_elements={"since": since_ts})
        rows = [r for r in self.store.access_records(since_ts=since_ts) if r.agency == user.agency]
        self.guard.log.record(username=user.username, agency=user.agency, action="view_access_log",
                              data_elements={"since": since_ts, "rows": min(len(rows), limit)},
                              purpose_code="AUDIT", channel=channel)
        return list(reversed(rows))[:limit]
