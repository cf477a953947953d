"""Versioned usage-and-privacy policy record (461.2.1(g), Civ. Code 1798.90.51(b)(2)(A)-(G))."""

from __future__ import annotations

import hashlib
import json
import time
from importlib import resources
from typing import Callable, Optional

from .errors import PolicyViolation, ValidationError
from .guard import Guard
from .models import PolicyVersion, PublicCommentMeeting, User
from .roles import Action

ELEMENT_KEYS = ("A", "B", "C", "D", "E", "F", "G")
ELEMENT_TITLES = {
    "A": "Authorized purposes for using the ALPR system and collecting ALPR information",
    "B": "Job titles of authorized users and their training requirements",
    "C": "How the system is monitored for security and compliance with privacy laws",
    "D": "Purposes of, process for and restrictions on sale, sharing or transfer",
    "E": "Title of the official custodian or owner of the ALPR system",
    "F": "Measures to ensure accuracy and correct errors",
    "G": "Length of time ALPR information will be retained and the process for deciding destruction",
}


def packaged_policy_text() -> str:
    return resources.files("alpr.governance").joinpath("policy", "policy-461.txt").read_text(encoding="utf-8")


def packaged_policy_record() -> dict:
    return json.loads(resources.files("alpr.governance").joinpath("policy", "policy.json").read_text(encoding="utf-8"))


def missing_elements(elements: dict) -> list[str]:
    return [k for k in ELEMENT_KEYS if not str(elements.get(k, "")).strip()]


class PolicyRegistry:
    def __init__(self, guard: Guard, clock: Callable[[], float] = time.time):
        self.guard, self.clock = guard, clock
        self.store = guard.auth.store

    def publish(self, user: Optional[User], version: str, elements: dict, text: str,
                public_comment_meeting: str = "", channel: str = "api") -> PolicyVersion:
        """Publish a new version; refused while any (A)-(G) element is empty (audit finding F1)."""
        if user is not None:
            self.guard.check(user, Action.PUBLISH_POLICY, channel=channel, data_elements={"version": version})
        missing = missing_elements(elements)
        if missing:
            raise PolicyViolation(f"policy elements {missing} of Civ. Code 1798.90.51(b)(2) are empty")
        if not version.strip():
            raise ValidationError("policy version is required")
        if any(p.version == version for p in self.store.list_policies()):
            raise ValidationError(f"policy version {version!r} already published; versions are immutable")
        now = self.clock()
        rec = PolicyVersion(version, now, {k: elements[k] for k in ELEMENT_KEYS},
                            hashlib.sha256(text.encode()).hexdigest(), user.username if user else "system", now,
                            public_comment_meeting)
        self.store.put_policy(rec)
        self.guard.log.record(username=rec.published_by, agency=user.agency if user else "*", action="policy_publish",
                              data_elements={"version": version, "text_sha256": rec.text_sha256},
                              purpose_code="ADMIN", channel=channel)
        return rec

    def ensure_default(self) -> PolicyVersion:
        """Publish the packaged policy when the store has none."""
        current = self.current()
        if current is not None:
            return current
        data = packaged_policy_record()
        return self.publish(None, data["version"], data["elements"], packaged_policy_text(),
                            data.get("public_comment_meeting", ""), channel="system")

    def current(self) -> Optional[PolicyVersion]:
        versions = self.store.list_policies()
        return versions[-1] if versions else None

    def go_live_checklist(self, agency: Optional[str] = None) -> dict:
        """What must be true before ``agency`` may go live (all agencies' policy items when None)."""
        cur = self.current()
        meeting = self.store.get_public_meeting(agency) if agency else None
        return {
            "policy_published": cur is not None,
            "all_elements_present": cur is not None and not missing_elements(cur.elements),
            "public_comment_meeting_recorded": bool(meeting) if agency else bool(cur and cur.public_comment_meeting),
            "live": bool(meeting and meeting.live_ts),
        }

    # -- 1798.90.55(a): public comment before the program starts ----------------------
    def record_public_meeting(self, user: User, *, meeting_date: str, governing_body: str, agenda_item: str,
                              minutes_ref: str, channel: str = "api") -> PublicCommentMeeting:
        """The agency's administrator records the governing body's public meeting (date, body,
        agenda item, where the minutes are). Once live, the record cannot be replaced."""
        import datetime
        elements = {"meeting_date": meeting_date, "governing_body": governing_body, "agenda_item": agenda_item}
        self.guard.check(user, Action.PUBLISH_POLICY, channel=channel, data_elements=elements)
        try:
            try:
                day = datetime.date.fromisoformat((meeting_date or "").strip())
            except ValueError as exc:
                raise ValidationError("meeting_date must be an ISO date (YYYY-MM-DD)") from exc
            if day > datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc).date():
                raise ValidationError("the public meeting must have taken place already")
            for name, value in (("governing_body", governing_body), ("agenda_item", agenda_item),
                                ("minutes_ref", minutes_ref)):
                if not (value or "").strip() or len(value) > 300:
                    raise ValidationError(f"{name} is required (at most 300 characters)")
            existing = self.store.get_public_meeting(user.agency)
            if existing is not None and existing.live_ts:
                raise PolicyViolation("the agency is live; its public-comment meeting record is final")
        except (ValidationError, PolicyViolation) as exc:
            self.guard.deny(user, "public_meeting_record", exc, channel, elements)
            raise
        meeting = PublicCommentMeeting(user.agency, day.isoformat(), governing_body.strip(), agenda_item.strip(),
                                       minutes_ref.strip(), user.username, self.clock())
        self.store.put_public_meeting(meeting)
        self.guard.log.record(username=user.username, agency=user.agency, action="public_meeting_record",
                              data_elements=elements, purpose_code="ADMIN", channel=channel)
        return meeting

    def go_live(self, user: User, channel: str = "api") -> PublicCommentMeeting:
        """Start the agency's ALPR program: refused until the checklist is complete."""
        self.guard.check(user, Action.PUBLISH_POLICY, channel=channel, data_elements={"go_live": user.agency})
        checklist = self.go_live_checklist(user.agency)
        missing = [k for k, ok in checklist.items() if k != "live" and not ok]
        meeting = self.store.get_public_meeting(user.agency)
        if missing or meeting is None:
            exc = PolicyViolation(f"go-live refused: {', '.join(missing)} missing (the public-comment meeting of "
                                  "Civ. Code 1798.90.55(a) must be recorded first)")
            self.guard.deny(user, "go_live", exc, channel, {"checklist": checklist})
            raise exc
        if meeting.live_ts:
            return meeting
        import dataclasses
        meeting = dataclasses.replace(meeting, live_ts=self.clock(), live_by=user.username)
        self.store.put_public_meeting(meeting)
        self.guard.log.record(username=user.username, agency=user.agency, action="go_live",
                              data_elements={"meeting_date": meeting.meeting_date}, purpose_code="ADMIN",
                              channel=channel)
        return meeting
