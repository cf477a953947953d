"""The platform registry of recipient agencies (1798.90.55(b), AG Bulletin 2023-DLE-06).

The registry is platform data, not agency data: only the ``platform`` role maintains it, and
only from the curated list of California public agencies shipped in
``policy/ca_public_agencies.json`` (kind, state and law-enforcement/prosecutorial flags come
from that list, never from the caller). An agency edits only its own profile (display name
and contact), never its kind, state or flags, and never another agency's record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from functools import lru_cache
from importlib import resources
from typing import Optional

from .errors import NotFound, PermissionDenied, PolicyViolation, ValidationError
from .guard import Guard
from .models import Agency, User
from .roles import Action


@lru_cache(maxsize=1)
def curated_agencies() -> dict[str, Agency]:
    data = json.loads(resources.files("alpr.governance").joinpath("policy", "ca_public_agencies.json")
                      .read_text(encoding="utf-8"))
    out = {}
    for a in data["agencies"]:
        if a["kind"] not in ("local", "state"):
            raise ValueError(f"curated list: {a['agency_id']} is not a California state or local agency")
        out[a["agency_id"]] = Agency(a["agency_id"], a["name"], a["kind"], "CA", bool(a["law_enforcement"]),
                                     bool(a["prosecutorial"]))
    return out


def curated(agency_id: str) -> Optional[Agency]:
    return curated_agencies().get(agency_id)


class AgencyRegistry:
    def __init__(self, guard: Guard):
        self.guard = guard
        self.store = guard.auth.store

    def register(self, user: User, agency_id: str, channel: str = "api") -> Agency:
        """Platform role only: add an agency of the curated list (its attributes from the list)."""
        elements = {"agency": agency_id}
        self.guard.check(user, Action.MANAGE_AGENCIES, channel=channel, data_elements=elements)
        entry = curated(agency_id)
        if entry is None:
            exc = PolicyViolation(f"{agency_id!r} is not on the curated list of California public agencies; "
                                  "recipients must be California state or local public agencies")
            self.guard.deny(user, "agency_register", exc, channel, elements)
            raise exc
        existing = self.store.get_agency(agency_id)
        agency = replace(entry, contact=existing.contact) if existing else entry
        self.store.put_agency(agency)
        self.guard.log.record(username=user.username, agency=user.agency, action="agency_register",
                              data_elements=asdict(agency), purpose_code="ADMIN", channel=channel)
        return agency

    def set_active(self, user: User, agency_id: str, active: bool, reason: str = "",
                   channel: str = "api") -> Agency:
        """Platform role only: suspend (or restore) an agency as a recipient of shares."""
        elements = {"agency": agency_id, "active": active, "reason": reason}
        self.guard.check(user, Action.MANAGE_AGENCIES, channel=channel, data_elements=elements)
        current = self.store.get_agency(agency_id)
        if current is None:
            raise NotFound(f"no agency {agency_id!r}")
        agency = replace(current, active=active)
        self.store.put_agency(agency)
        self.guard.log.record(username=user.username, agency=user.agency, action="agency_active",
                              data_elements=elements, purpose_code="ADMIN", channel=channel)
        return agency

    def update_profile(self, user: User, agency_id: str, *, name: Optional[str] = None,
                       contact: Optional[str] = None, channel: str = "api") -> Agency:
        """An agency's administrator edits its own display name and contact, nothing else."""
        elements = {"agency": agency_id, "fields": [k for k, v in (("name", name), ("contact", contact)) if v]}
        self.guard.check(user, Action.EDIT_AGENCY_PROFILE, channel=channel, data_elements=elements,
                         agency=agency_id)
        current = self.store.get_agency(agency_id)
        if current is None:
            raise NotFound(f"no agency {agency_id!r}")
        if name is not None and not name.strip():
            raise ValidationError("the agency name may not be empty")
        if contact is not None and len(contact) > 200:
            raise ValidationError("contact: at most 200 characters")
        agency = replace(current, name=(name or current.name).strip(),
                         contact=current.contact if contact is None else contact.strip())
        self.store.put_agency(agency)
        self.guard.log.record(username=user.username, agency=user.agency, action="agency_profile",
                              data_elements=elements, purpose_code="ADMIN", channel=channel)
        return agency

    def list(self, user: User, channel: str = "api") -> list[Agency]:
        """Registered agencies (name and eligibility are public registry facts)."""
        if user.status != "active":
            raise PermissionDenied(f"account {user.username} is {user.status}")
        return self.store.list_agencies()
