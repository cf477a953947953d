"""Versioned usage-and-privacy policy record (461.2.1(g), Civ. Code 1798.90.51(b)(2)(A)-(G))."""

from __future__ import annotations

import hashlib
import json
import time
from importlib import resources
from typing import Callable, Optional

from .errors import PolicyViolation, ValidationError
from .guard import Guard
from .models import PolicyVersion, User
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

    def go_live_checklist(self) -> dict:
        cur = self.current()
        return {
            "policy_published": cur is not None,
            "all_elements_present": cur is not None and not missing_elements(cur.elements),
            "public_comment_meeting_recorded": bool(cur and cur.public_comment_meeting),  # 1798.90.55(a)
        }
