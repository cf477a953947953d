"""/api/sharing: agencies, written requests, review, fulfilment."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends

from ...models import SharingScope, User
from ...service import Governance
from ..deps import current_user, get_gov
from ..schemas import AgencyIn, AgencyProfileIn, ReviewIn, ShareIn

router = APIRouter(tags=["sharing"])


@router.post("/api/sharing/agencies", status_code=201)
def register_agency(body: AgencyIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    """Platform role only; the agency's attributes come from the curated California list."""
    return asdict(gov.registry.register(user, body.agency_id))


@router.get("/api/sharing/agencies")
def list_agencies(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> list[dict]:
    return [asdict(a) for a in gov.registry.list(user)]


@router.put("/api/agencies/{agency_id}/profile")
def update_profile(agency_id: str, body: AgencyProfileIn, user: User = Depends(current_user),
                   gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.registry.update_profile(user, agency_id, name=body.name, contact=body.contact))


@router.get("/api/sharing/deliveries")
def deliveries(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> list[dict]:
    return [asdict(d) for d in gov.sharing.deliveries(user)]


@router.get("/api/sharing/requests")
def list_requests(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> list[dict]:
    return [asdict(r) for r in gov.sharing.list_requests(user)]


@router.post("/api/sharing/requests", status_code=201)
def create_request(body: ShareIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    req = gov.sharing.create_request(user, requesting_agency=body.requesting_agency,
                                     requester_name=body.requester_name, purpose_code=body.purpose_code,
                                     case_number=body.case_number, purpose_text=body.purpose_text,
                                     scope=SharingScope(**body.scope.model_dump()))
    return asdict(req)


@router.post("/api/sharing/requests/{request_id}/review")
def review(request_id: str, body: ReviewIn, user: User = Depends(current_user),
           gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.sharing.review(user, request_id, body.approve, body.note, body.days))


@router.post("/api/sharing/requests/{request_id}/fulfil")
def fulfil(request_id: str, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    rows = gov.sharing.fulfil(user, request_id)
    return {"request_id": request_id, "count": len(rows), "reads": rows}
