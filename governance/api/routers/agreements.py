"""/api/agreements: hotlist (live-matching) agreements between two agencies."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends

from ...models import User
from ...service import Governance
from ..deps import current_user, get_gov
from ..schemas import AgreementIn, AgreementReviewIn, ReasonIn

router = APIRouter(tags=["agreements"])


@router.get("/api/agreements")
def list_agreements(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> list[dict]:
    """Agreements the caller's agency is a party to."""
    return [asdict(a) for a in gov.agreements.list(user)]


@router.post("/api/agreements", status_code=201)
def propose(body: AgreementIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.agreements.propose(user, owner_agency=body.owner_agency, partner_agency=body.partner_agency,
                                         document_ref=body.document_ref, start_ts=body.start_ts,
                                         expires_ts=body.expires_ts, list_codes=body.list_codes, note=body.note))


@router.get("/api/agreements/{agreement_id}")
def get(agreement_id: str, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.agreements.get(user, agreement_id))


@router.post("/api/agreements/{agreement_id}/review")
def review(agreement_id: str, body: AgreementReviewIn, user: User = Depends(current_user),
           gov: Governance = Depends(get_gov)) -> dict:
    """The other agency approves or rejects."""
    return asdict(gov.agreements.review(user, agreement_id, body.approve, body.note))


@router.post("/api/agreements/{agreement_id}/revoke")
def revoke(agreement_id: str, body: ReasonIn, user: User = Depends(current_user),
           gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.agreements.revoke(user, agreement_id, body.reason))
