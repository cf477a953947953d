"""Public, unauthenticated transparency endpoints (461.2.1(g)). No plate is ever shown."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ...service import Governance
from ..deps import get_gov

router = APIRouter(tags=["public"])


@router.get("/public/policy")
def policy(gov: Governance = Depends(get_gov)) -> dict:
    return gov.transparency.policy()


@router.get("/public/stats")
def stats(gov: Governance = Depends(get_gov)) -> dict:
    return gov.transparency.stats()


@router.get("/public/purposes")
def purposes(gov: Governance = Depends(get_gov)) -> dict:
    return dict(gov.purposes.items())


@router.get("/public", response_class=HTMLResponse)
@router.get("/transparency", response_class=HTMLResponse)
def page(request: Request, gov: Governance = Depends(get_gov)) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(
        request, "public.html", {"policy": gov.transparency.policy(), "stats": gov.transparency.stats()})
