"""/api/go-live: the 1798.90.55(a) public-comment meeting and the agency's go-live (its own only)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends

from ...models import User
from ...roles import Action
from ...service import Governance
from ..deps import current_user, get_gov
from ..schemas import MeetingIn

router = APIRouter(tags=["go-live"])


@router.get("/api/go-live")
def checklist(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    gov.guard.check(user, Action.PUBLISH_POLICY, channel="api", data_elements={"go_live_checklist": user.agency})
    return {"agency": user.agency, **gov.policies.go_live_checklist(user.agency)}


@router.post("/api/go-live/meeting", status_code=201)
def record_meeting(body: MeetingIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.policies.record_public_meeting(user, **body.model_dump()))


@router.post("/api/go-live")
def go_live(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.policies.go_live(user))
