"""Sharing ALPR data (461.7; Civ. Code 1798.90.55(b); AG Bulletin 2023-DLE-06).

A request records the agency, the requester's name and the purpose (code + case number
+ text). Only public law-enforcement or prosecutorial agencies may receive data, and by
default only California state or local agencies (not federal, out-of-state or private).
The Deputy Chief or a designee approves; the approved request is retained; fulfilment
exports exactly the approved scope, is audited, and approvals expire.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Optional

from alpr.connectors.stores.base import ReadQuery, ReadStore, plate_pattern_regex

from .errors import Conflict, NotFound, PermissionDenied, PolicyViolation, ValidationError
from .guard import Guard
from .models import Agency, SharingRequest, SharingScope, User
from .roles import Action, Role

DAY_S = 86_400
PUBLIC_KINDS = ("local", "state")


def eligibility(agency: Agency, california_only: bool = True) -> tuple[bool, str]:
    """May ``agency`` receive ALPR data? Returns (ok, reason)."""
    if agency.kind not in ("local", "state", "federal"):
        return False, f"{agency.name} is not a public agency (1798.90.55(b))"
    if not (agency.law_enforcement or agency.prosecutorial):
        return False, (f"{agency.name} is not a law-enforcement or prosecutorial agency; process the request "
                       "under the Records Maintenance and Release Policy (461.7)")
    if california_only and (agency.kind == "federal" or agency.state.upper() != "CA"):
        return False, (f"{agency.name} is not a California state or local agency "
                       "(AG Bulletin 2023-DLE-06 excludes out-of-state and federal agencies)")
    return True, "eligible"


class SharingService:
    def __init__(self, guard: Guard, reads: ReadStore, california_only: bool = True, max_days: int = 90,
                 clock: Callable[[], float] = time.time):
        self.guard, self.reads, self.california_only, self.max_days, self.clock = (
            guard, reads, california_only, max_days, clock)
        self.store = guard.auth.store

    def register_agency(self, user: User, agency: Agency, channel: str = "api") -> Agency:
        self.guard.check(user, Action.MANAGE_AGENCIES, channel=channel, data_elements={"agency": agency.agency_id})
        if agency.kind not in ("local", "state", "federal", "private", "other"):
            raise ValidationError("agency kind must be local, state, federal, private or other")
        self.store.put_agency(agency)
        self.guard.log.record(username=user.username, agency=user.agency, action="agency_register",
                              data_elements=asdict(agency), purpose_code="ADMIN", channel=channel)
        return agency

    def create_request(self, user: User, *, requesting_agency: str, requester_name: str, purpose_code: str,
                       case_number: str, purpose_text: str, scope: SharingScope,
                       channel: str = "api") -> SharingRequest:
        elements = {"requesting_agency": requesting_agency, **{k: v for k, v in asdict(scope).items() if v}}
        purpose = self.guard.check_with_purpose(user, Action.REQUEST_SHARE, purpose_code, case_number, purpose_text,
                                                channel=channel, data_elements=elements)
        try:
            if not (requester_name or "").strip():
                raise ValidationError("the name of the person requesting is required (461.7(a)(2))")
            if not (purpose_text or "").strip():
                raise ValidationError("the intended purpose is required (461.7(a)(3))")
            if scope.plate_pattern:
                plate_pattern_regex(scope.plate_pattern)
            if not (scope.plate_pattern or scope.camera_id) or scope.start_ts is None or scope.end_ts is None:
                raise ValidationError("a share needs a bounded scope: a plate pattern or camera, and a time range")
            agency = self.store.get_agency(requesting_agency)
            if agency is None:
                raise ValidationError(f"unknown agency {requesting_agency!r}; register it first")
            ok, why = eligibility(agency, self.california_only)
            if not ok:
                raise PolicyViolation(why)
        except (ValidationError, PolicyViolation, ValueError) as exc:
            err = exc if not type(exc) is ValueError else ValidationError(str(exc))
            self.guard.deny(user, "share_request", err, channel, elements, purpose.code, purpose.case_number)
            raise err
        req = SharingRequest(uuid.uuid4().hex[:16], user.agency, agency.agency_id, agency.name,
                             requester_name.strip(), purpose.code, purpose.case_number, purpose_text.strip(),
                             scope, "pending", self.clock(), user.username)
        self.store.put_sharing(req)
        self.guard.log.record(username=user.username, agency=user.agency, action="share_request",
                              data_elements={**elements, "request_id": req.request_id}, purpose=purpose,
                              channel=channel)
        return req

    def _own(self, user: User, request_id: str, action: Action, channel: str) -> SharingRequest:
        self.guard.check(user, action, channel=channel, data_elements={"request_id": request_id})
        req = self.store.get_sharing(request_id)
        if req is None or req.owner_agency != user.agency:
            exc = NotFound(f"no sharing request {request_id!r} for agency {user.agency}")
            self.guard.deny(user, action.value, exc, channel, {"request_id": request_id})
            raise exc
        return req

    def review(self, user: User, request_id: str, approve: bool, note: str = "", days: Optional[int] = None,
               channel: str = "api") -> SharingRequest:
        req = self._own(user, request_id, Action.APPROVE_SHARE, channel)
        if user.role not in (Role.ADMINISTRATOR.value, Role.DESIGNEE.value):
            raise PermissionDenied("only the Deputy Chief or the designee may review a share (461.7(b))")
        if req.entered_by == user.username and approve:
            raise PermissionDenied("the member who entered a request may not approve it")
        if req.status != "pending":
            raise Conflict(f"request {request_id} is {req.status}, not pending")
        now = self.clock()
        if approve:
            agency = self.store.get_agency(req.requesting_agency)
            ok, why = eligibility(agency, self.california_only) if agency else (False, "agency no longer registered")
            if not ok:
                raise PolicyViolation(why)
            days = self.max_days if days is None else int(days)
            if not 1 <= days <= self.max_days:
                raise ValidationError(f"an approval may last 1 to {self.max_days} days")
            req = replace(req, status="approved", expires_ts=now + days * DAY_S)
        else:
            req = replace(req, status="denied")
        req = replace(req, reviewed_by=user.username, reviewed_ts=now, review_note=note)
        self.store.put_sharing(req)
        self.guard.log.record(username=user.username, agency=user.agency, action="share_review",
                              data_elements={"request_id": request_id, "decision": req.status},
                              purpose_code=req.purpose_code, case_number=req.case_number, channel=channel)
        return req

    def fulfil(self, user: User, request_id: str, out_path: Optional[str | Path] = None,
               channel: str = "api") -> list[dict]:
        """Export exactly the approved scope (the owner's reads only); returns the exported reads."""
        req = self._own(user, request_id, Action.FULFIL_SHARE, channel)
        now = self.clock()
        if req.status not in ("approved", "fulfilled"):
            raise Conflict(f"request {request_id} is {req.status}; only approved requests can be fulfilled")
        if req.expires_ts is None or now >= req.expires_ts:
            self.store.put_sharing(replace(req, status="expired"))
            exc = Conflict(f"the approval of request {request_id} has expired")
            self.guard.deny(user, "share_fulfil", exc, channel, {"request_id": request_id})
            raise exc
        s = req.scope
        reads = self.reads.search_reads(ReadQuery(s.plate_pattern, s.camera_id, s.start_ts, s.end_ts,
                                                  [req.owner_agency], 100_000))
        rows = [r.to_dict() for r in reads]
        if out_path is not None:
            Path(out_path).parent.mkdir(parents=True, exist_ok=True)
            Path(out_path).write_text(json.dumps({"request": asdict(req), "reads": rows}, indent=1, sort_keys=True))
        req = replace(req, status="fulfilled", fulfilled_ts=now, fulfilled_by=user.username,
                      fulfilled_count=len(rows))
        self.store.put_sharing(req)
        self.guard.log.record(username=user.username, agency=user.agency, action="share_fulfil",
                              data_elements={"request_id": request_id, "recipient": req.requesting_agency,
                                             **{k: v for k, v in asdict(s).items() if v is not None},
                                             "result_count": len(rows)},
                              purpose_code="SHARE-FULFIL", case_number=req.case_number, channel=channel)
        return rows

    def list_requests(self, user: User, channel: str = "api") -> list[SharingRequest]:
        self.guard.check(user, Action.REQUEST_SHARE, channel=channel, data_elements={"sharing_of": user.agency})
        return self.store.list_sharing(owner_agency=user.agency)

    def expire_approvals(self, now: Optional[float] = None) -> list[str]:
        now = self.clock() if now is None else now
        out = []
        for r in self.store.list_sharing():
            if r.status in ("approved", "fulfilled") and r.expires_ts and now >= r.expires_ts:
                self.store.put_sharing(replace(r, status="expired"))
                self.guard.log.record(username="system", agency=r.owner_agency, action="share_expire",
                                      data_elements={"request_id": r.request_id}, purpose_code="ADMIN",
                                      case_number=r.case_number, channel="system")
                out.append(r.request_id)
        return out

    def active_grants_for(self, agency: str, now: Optional[float] = None) -> list[SharingRequest]:
        now = self.clock() if now is None else now
        return [r for r in self.store.list_sharing(requesting_agency=agency)
                if r.status in ("approved", "fulfilled") and r.expires_ts and now < r.expires_ts]
