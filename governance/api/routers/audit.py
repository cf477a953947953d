"""/api/audit: access log, chain verification, sampling, sign-off, reports."""

from __future__ import annotations

from dataclasses import asdict
from typing import Optional

from fastapi import APIRouter, Depends

from ...models import User
from ...service import Governance
from ..deps import current_user, get_gov
from ..schemas import FindingIn, SampleIn, SignIn

router = APIRouter(tags=["audit"])


@router.get("/api/audit/log")
def access_log(since_ts: Optional[float] = None, limit: int = 200, user: User = Depends(current_user),
               gov: Governance = Depends(get_gov)) -> list[dict]:
    return [asdict(r) for r in gov.audits.access_log(user, since_ts, limit)]


@router.get("/api/audit/verify")
def verify(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return gov.verify_for(user, channel="api")


@router.post("/api/audit/samples", status_code=201)
def sample(body: SampleIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.audits.create_sample(user, body.period_start, body.period_end, body.size, body.seed))


@router.post("/api/audit/samples/{audit_id}/findings")
def finding(audit_id: str, body: FindingIn, user: User = Depends(current_user),
            gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.audits.record_finding(user, audit_id, body.seq, body.result, body.note))


@router.post("/api/audit/samples/{audit_id}/sign")
def sign(audit_id: str, body: SignIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.audits.sign_off(user, audit_id, body.summary))


@router.get("/api/audit/report")
def report(start: Optional[float] = None, end: Optional[float] = None, user: User = Depends(current_user),
           gov: Governance = Depends(get_gov)) -> dict:
    return gov.audits.report(user, start, end)
