"""Sharing ALPR data (461.7; Civ. Code 1798.90.55(b); AG Bulletin 2023-DLE-06).

A request records the agency, the requester's name and the purpose (code + case number
+ text). Only public law-enforcement or prosecutorial agencies may receive data, and by
default only California state or local agencies (not federal, out-of-state or private).
The Deputy Chief or a designee approves; the approved request is retained; fulfilment
exports exactly the approved scope, is audited, and approvals expire.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Optional

from alpr.connectors.stores.base import ReadQuery, ReadStore

from .errors import Conflict, NotFound, PermissionDenied, PolicyViolation, ValidationError
from .guard import Guard
from .models import Agency, ShareDelivery, SharingRequest, SharingScope, User
from .purposes import Purpose
from .registry import curated
from .roles import Action, Role

DAY_S = 86_400
PUBLIC_KINDS = ("local", "state")
MAX_SHARE_PLATES = 25
_EXACT_PLATE = re.compile(r"[A-Z0-9]{1,10}")


def scope_plates(scope: SharingScope) -> list[str]:
    """The named plates of a scope (comma separated, exact: no wildcards)."""
    plates = [p.strip().upper() for p in (scope.plate_pattern or "").split(",") if p.strip()]
    bad = [p for p in plates if not _EXACT_PLATE.fullmatch(p)]
    if bad:
        raise ValidationError(f"a share names exact plates (no wildcards): {bad[0]!r} is not a plate")
    return plates


def registry_eligibility(agency_id: str, california_only: bool = True) -> tuple[bool, str]:
    """Eligibility from the curated list, never from what is stored or typed (a relabelled record
    in the database cannot make an agency eligible)."""
    entry = curated(agency_id)
    if entry is None:
        return False, (f"{agency_id!r} is not on the curated list of California public agencies "
                       "(1798.90.55(b), AG Bulletin 2023-DLE-06)")
    return eligibility(entry, california_only)


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
                 clock: Callable[[], float] = time.time, max_window_days: int = 90):
        self.guard, self.reads, self.california_only, self.max_days, self.clock = (
            guard, reads, california_only, max_days, clock)
        self.max_window_days = max_window_days
        self.store = guard.auth.store

    def _check_scope(self, scope: SharingScope) -> None:
        plates = scope_plates(scope)
        if not plates or scope.start_ts is None or scope.end_ts is None:
            raise ValidationError("a share needs a bounded scope: named plates and a time window")
        if len(plates) > MAX_SHARE_PLATES:
            raise ValidationError(f"a share names at most {MAX_SHARE_PLATES} plates")
        if scope.end_ts <= scope.start_ts:
            raise ValidationError("the share window must end after it starts")
        if scope.end_ts - scope.start_ts > self.max_window_days * DAY_S:
            raise ValidationError(f"the share window may be at most {self.max_window_days} days")
        if scope.end_ts > self.clock() + DAY_S:
            raise ValidationError("the share window may not reach into the future")

    def _eligible(self, agency_id: str) -> None:
        ok, why = registry_eligibility(agency_id, self.california_only)
        stored = self.store.get_agency(agency_id) if ok else None
        if ok and (stored is None or not stored.active):
            ok, why = False, f"agency {agency_id!r} is not registered on the platform as an active recipient"
        if not ok:
            raise PolicyViolation(why)

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
            self._check_scope(scope)
            if requesting_agency == user.agency:
                raise ValidationError("a share goes to another agency")
            self._eligible(requesting_agency)
            agency = curated(requesting_agency)
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
        return self.guard.owned(user, action, req, req.owner_agency if req else None,
                                f"sharing request {request_id!r}", channel=channel,
                                data_elements={"request_id": request_id})

    def review(self, user: User, request_id: str, approve: bool, note: str = "", days: Optional[int] = None,
               channel: str = "api") -> SharingRequest:
        req = self._own(user, request_id, Action.APPROVE_SHARE, channel)
        with self.guard.refusing(user, "share_review", channel, {"request_id": request_id}, req.purpose_code,
                                 req.case_number):
            if user.role not in (Role.ADMINISTRATOR.value, Role.DESIGNEE.value):
                raise PermissionDenied("only the Deputy Chief or the designee may review a share (461.7(b))")
            if req.entered_by == user.username and approve:
                raise PermissionDenied("the member who entered a request may not approve it")
            if req.status != "pending":
                raise Conflict(f"request {request_id} is {req.status}, not pending")
            days = self.max_days if days is None else int(days)
            if approve and not 1 <= days <= self.max_days:
                raise ValidationError(f"an approval may last 1 to {self.max_days} days")
            if approve:  # eligibility and scope checked again at approval (and at fulfilment)
                self._eligible(req.requesting_agency)
                self._check_scope(req.scope)
        now = self.clock()
        if approve:
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
        try:  # eligibility and scope checked again at fulfilment: a relabel in between changes nothing
            self._eligible(req.requesting_agency)
            self._check_scope(req.scope)
        except (PolicyViolation, ValidationError) as exc:
            self.guard.deny(user, "share_fulfil", exc, channel, {"request_id": request_id},
                            "SHARE-FULFIL", req.case_number)
            raise
        s = req.scope
        reads = []
        for plate in scope_plates(s):
            reads.extend(self.reads.search_reads(ReadQuery(plate, s.camera_id, s.start_ts, s.end_ts,
                                                           [req.owner_agency], 100_000)))
        reads.sort(key=lambda r: (r.capture_ts, r.read_id))
        rows = [r.to_dict() for r in reads]
        payload = json.dumps({"request": asdict(req), "reads": rows}, indent=1, sort_keys=True)
        if out_path is not None:
            Path(out_path).parent.mkdir(parents=True, exist_ok=True)
            Path(out_path).write_text(payload)
        delivery = ShareDelivery(uuid.uuid4().hex[:16], request_id, req.owner_agency, req.requesting_agency,
                                 user.username, now, tuple(r.read_id for r in reads),
                                 hashlib.sha256(payload.encode()).hexdigest(), len(rows))
        self.store.put_delivery(delivery)
        req = replace(req, status="fulfilled", fulfilled_ts=now, fulfilled_by=user.username,
                      fulfilled_count=len(rows))
        self.store.put_sharing(req)
        elements = {"request_id": request_id, "delivery_id": delivery.delivery_id, "recipient": req.requesting_agency,
                    "owner": req.owner_agency, **{k: v for k, v in asdict(s).items() if v is not None},
                    "result_count": len(rows), "payload_sha256": delivery.payload_sha256}
        self.guard.log.record(username=user.username, agency=user.agency, action="share_fulfil",
                              data_elements=elements, purpose_code="SHARE-FULFIL", case_number=req.case_number,
                              channel=channel)
        # the recipient's side of the same delivery (logged on both sides)
        self.guard.log.record(username=f"{req.requesting_agency}:{req.requester_name}", agency=req.requesting_agency,
                              action="share_received", data_elements=elements, purpose_code=req.purpose_code,
                              case_number=req.case_number, channel=channel)
        return rows

    def list_requests(self, user: User, channel: str = "api") -> list[SharingRequest]:
        self.guard.check(user, Action.REQUEST_SHARE, channel=channel, data_elements={"sharing_of": user.agency})
        rows = self.store.list_sharing(owner_agency=user.agency)
        self.guard.log.record(username=user.username, agency=user.agency, action="share_list",
                              data_elements={"sharing_of": user.agency, "count": len(rows)},
                              purpose_code="ADMIN", channel=channel)
        return rows

    def deliveries(self, user: User, channel: str = "api") -> list[ShareDelivery]:
        """Deliveries the user's agency sent or received (logged)."""
        self.guard.check(user, Action.REQUEST_SHARE, channel=channel, data_elements={"deliveries_of": user.agency})
        rows = self.store.list_deliveries(user.agency)
        self.guard.log.record(username=user.username, agency=user.agency, action="share_deliveries",
                              data_elements={"count": len(rows)}, purpose_code="ADMIN", channel=channel)
        return rows

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

    # -- searches of the recipient inside an approved grant (see :mod:`.search`) -------------
    def grant_refused(self, user: User, grant: SharingRequest, elements: dict, purpose: Purpose,
                      channel: str) -> bool:
        """Eligibility and scope checked again at every search inside ``grant`` (as at approval and
        fulfilment). A refusal is logged on both sides; True when the grant may not be used now."""
        try:
            self._eligible(grant.requesting_agency)
            self._check_scope(grant.scope)
        except (PolicyViolation, ValidationError) as exc:
            data = {**elements, "request_id": grant.request_id, "recipient": user.agency}
            self.guard.deny(user, "shared_search", exc, channel, data, purpose.code, purpose.case_number)
            self.guard.log.record(username=f"{user.agency}:{user.username}", agency=grant.owner_agency,
                                  action="shared_search", data_elements=data, purpose=purpose, channel=channel,
                                  outcome="denied", detail=str(exc))
            return True
        return False

    def deliver_search(self, user: User, grant: SharingRequest, reads: list, elements: dict, purpose: Purpose,
                       channel: str) -> ShareDelivery:
        """Record the reads of ``grant``'s owner that a search returned to ``user`` as a delivery
        (what left, to whom, under which request), logged on both sides."""
        rows = [r.to_dict() for r in reads]
        payload = json.dumps({"request_id": grant.request_id, "reads": rows}, sort_keys=True)
        delivery = ShareDelivery(uuid.uuid4().hex[:16], grant.request_id, grant.owner_agency, user.agency,
                                 grant.reviewed_by, self.clock(), tuple(r.read_id for r in reads),
                                 hashlib.sha256(payload.encode()).hexdigest(), len(rows), kind="search",
                                 received_by=user.username)
        self.store.put_delivery(delivery)
        data = {**elements, "request_id": grant.request_id, "delivery_id": delivery.delivery_id,
                "recipient": user.agency, "owner": grant.owner_agency, "result_count": len(rows),
                "payload_sha256": delivery.payload_sha256}
        # the owner's auditors see who used the share; the recipient's side records what it received
        self.guard.log.record(username=f"{user.agency}:{user.username}", agency=grant.owner_agency,
                              action="shared_search", data_elements=data, purpose=purpose, channel=channel)
        self.guard.log.record(username=user.username, agency=user.agency, action="share_received",
                              data_elements=data, purpose=purpose, channel=channel)
        return delivery

    def active_grants_for(self, agency: str, now: Optional[float] = None) -> list[SharingRequest]:
        now = self.clock() if now is None else now
        return [r for r in self.store.list_sharing(requesting_agency=agency)
                if r.status in ("approved", "fulfilled") and r.expires_ts and now < r.expires_ts]
