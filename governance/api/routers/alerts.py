"""/api/alerts: the alert verification workflow."""

from __future__ import annotations

from dataclasses import asdict
from typing import Optional

from fastapi import APIRouter, Depends

from ...models import User
from ...service import Governance
from ..deps import current_user, get_gov
from ..schemas import AcknowledgeIn, DispositionIn, EnforcementIn, ReasonIn, VerifyIn

router = APIRouter(tags=["alerts"])


@router.get("/api/alerts")
def list_alerts(purpose_code: Optional[str] = None, case_number: Optional[str] = None,
                user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> list[dict]:
    rows = gov.alerts.list_alerts(user, purpose_code, case_number, channel="api")
    return [{"alert": a.to_dict(), "workflow": asdict(wf)} for a, wf in rows]


@router.get("/api/alerts/{alert_id}/history")
def history(alert_id: str, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> list[dict]:
    return [asdict(e) for e in gov.alerts.history(user, alert_id)]


@router.post("/api/alerts/{alert_id}/acknowledge")
def acknowledge(alert_id: str, body: AcknowledgeIn, user: User = Depends(current_user),
                gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.alerts.acknowledge(user, alert_id, body.incident_number))


@router.post("/api/alerts/{alert_id}/verify")
def verify(alert_id: str, body: VerifyIn, user: User = Depends(current_user),
           gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.alerts.verify(user, alert_id, body.system, body.reference, body.confirmed, body.visual_check))


@router.post("/api/alerts/{alert_id}/accept")
def accept(alert_id: str, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.alerts.accept(user, alert_id))


@router.post("/api/alerts/{alert_id}/reject")
def reject(alert_id: str, body: ReasonIn, user: User = Depends(current_user),
           gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.alerts.reject(user, alert_id, body.reason))


@router.post("/api/alerts/{alert_id}/enforcement")
def enforcement(alert_id: str, body: EnforcementIn, user: User = Depends(current_user),
                gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.alerts.record_enforcement(user, alert_id, body.action))


@router.post("/api/alerts/{alert_id}/dispose")
def dispose(alert_id: str, body: DispositionIn, user: User = Depends(current_user),
            gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.alerts.dispose(user, alert_id, body.disposition))
