"""Server-rendered web console (/console): login with MFA, search, alerts, hotlists, audit,
sharing, retention. Uses a HttpOnly, SameSite=Strict session cookie plus a per-session CSRF
token on every form. Every data access goes through the same services as the API (channel "ui"),
so it is authorised and written to the access log the same way."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from dataclasses import asdict
from typing import Optional

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..alerts import ENFORCEMENT_DISPOSITIONS, NON_ENFORCEMENT_DISPOSITIONS, VERIFICATION_SYSTEMS
from ..errors import AuthenticationError, GovernanceError, PermissionDenied
from ..models import SharingScope, User
from ..roles import Action, allowed
from ..search import SearchCriteria
from ..deps import get_gov
from ..service import Governance

COOKIE = "alpr_session"
router = APIRouter(prefix="/console", include_in_schema=False)


def csrf_for(token: str) -> str:
    return hashlib.sha256(f"csrf:{token}".encode()).hexdigest()[:32]


def console_user(request: Request, gov: Governance = Depends(get_gov)) -> User:
    user = gov.auth.authenticate(request.cookies.get(COOKIE), channel="ui")
    request.state.user = user
    return user


def check_csrf(request: Request, csrf: str = Form("")) -> None:
    token = request.cookies.get(COOKIE, "")
    if not token or not hmac.compare_digest(csrf, csrf_for(token)):
        raise PermissionDenied("invalid form token; reload the page")


def _ts(value: str, timezone: str = "America/Los_Angeles") -> Optional[float]:
    """Parse an HTML datetime-local value, entered in the agency's time zone, into epoch seconds."""
    from zoneinfo import ZoneInfo
    if not value:
        return None
    return datetime.datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(timezone)).timestamp()


def render(request: Request, name: str, user: Optional[User], status: int = 200, **ctx) -> HTMLResponse:
    gov: Governance = request.app.state.gov
    token = request.cookies.get(COOKIE, "")
    base = {"user": user, "csrf": csrf_for(token) if token else "", "purposes": list(gov.purposes.items()),
            "can": (lambda action: user is not None and allowed(user.role, action)), "Action": Action}
    return request.app.state.templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- login --------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return render(request, "login.html", None)


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), totp: str = Form(""),
          gov: Governance = Depends(get_gov)):
    try:
        token, session = gov.auth.login(username, password, totp, channel="ui")
    except AuthenticationError as exc:
        return render(request, "login.html", None, status=401, error=str(exc), username=username)
    resp = _redirect("/console/search")
    resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=gov.settings.secure_cookies,
                    max_age=gov.settings.session_ttl_s, path="/console")
    return resp


@router.post("/logout")
def logout(request: Request, gov: Governance = Depends(get_gov)):
    token = request.cookies.get(COOKIE)
    if token:
        gov.auth.logout(token)
    resp = _redirect("/console/login")
    resp.delete_cookie(COOKIE, path="/console")
    return resp


@router.get("/")
def home():
    return _redirect("/console/search")


# -- search -------------------------------------------------------------------------
@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, user: User = Depends(console_user)):
    return render(request, "search.html", user, form={})


@router.post("/search", response_class=HTMLResponse)
def search(request: Request, plate_pattern: str = Form(""), camera_id: str = Form(""), start: str = Form(""),
           end: str = Form(""), purpose_code: str = Form(""), case_number: str = Form(""), note: str = Form(""),
           user: User = Depends(console_user), _: None = Depends(check_csrf), gov: Governance = Depends(get_gov)):
    form = dict(plate_pattern=plate_pattern, camera_id=camera_id, start=start, end=end, purpose_code=purpose_code,
                case_number=case_number, note=note)
    try:
        tz = gov.settings.timezone
        crit = SearchCriteria(plate_pattern or None, camera_id or None, _ts(start, tz), _ts(end, tz))
        results = gov.search.search(user, crit, purpose_code, case_number, note, channel="ui")
    except (GovernanceError, ValueError) as exc:
        status = getattr(exc, "status", 422)
        return render(request, "search.html", user, status=status, error=str(exc), form=form)
    return render(request, "search.html", user, form=form, results=results)


# -- alerts -------------------------------------------------------------------------
@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, purpose_code: str = "", case_number: str = "",
                user: User = Depends(console_user), gov: Governance = Depends(get_gov)):
    ctx = dict(form={"purpose_code": purpose_code, "case_number": case_number},
               systems=VERIFICATION_SYSTEMS,
               dispositions=sorted(ENFORCEMENT_DISPOSITIONS | NON_ENFORCEMENT_DISPOSITIONS))
    if not (purpose_code or case_number):
        return render(request, "alerts.html", user, rows=None, **ctx)
    try:
        rows = gov.alerts.list_alerts(user, purpose_code, case_number, channel="ui")
    except GovernanceError as exc:
        return render(request, "alerts.html", user, status=exc.status, error=str(exc), rows=None, **ctx)
    return render(request, "alerts.html", user, rows=rows, **ctx)


@router.post("/alerts/{alert_id}/{step}")
async def alert_step(alert_id: str, step: str, request: Request, user: User = Depends(console_user),
                     _: None = Depends(check_csrf), gov: Governance = Depends(get_gov)):
    f = await request.form()
    back_code, back_case = f.get("back_purpose", "HOTLIST-HIT"), f.get("back_case", "")
    svc = gov.alerts
    if step == "acknowledge":
        wf = svc.acknowledge(user, alert_id, str(f.get("incident_number", "")), channel="ui")
        back_case = wf.incident_number
    elif step == "verify":
        svc.verify(user, alert_id, str(f.get("system", "")), str(f.get("reference", "")),
                   f.get("confirmed") == "on", f.get("visual_check") == "on", channel="ui")
    elif step == "accept":
        svc.accept(user, alert_id, channel="ui")
    elif step == "reject":
        svc.reject(user, alert_id, str(f.get("reason", "")), channel="ui")
    elif step == "enforcement":
        svc.record_enforcement(user, alert_id, str(f.get("action", "")), channel="ui")
    elif step == "dispose":
        svc.dispose(user, alert_id, str(f.get("disposition", "")), channel="ui")
    else:
        raise PermissionDenied(f"unknown alert step {step!r}")
    return _redirect(f"/console/alerts?purpose_code={back_code}&case_number={back_case}")


# -- hotlists -----------------------------------------------------------------------
@router.get("/hotlists", response_class=HTMLResponse)
def hotlists_page(request: Request, user: User = Depends(console_user), gov: Governance = Depends(get_gov)):
    return render(request, "hotlists.html", user, entries=gov.hotlists.list_entries(user, channel="ui"))


@router.post("/hotlists", response_class=HTMLResponse)
def hotlists_add(request: Request, plate: str = Form(""), list_code: str = Form("MAJOR"),
                 case_number: str = Form(""), purpose_code: str = Form(""), expires: str = Form(""),
                 description: str = Form(""),
                 clets_derived: str = Form(""), user: User = Depends(console_user), _: None = Depends(check_csrf),
                 gov: Governance = Depends(get_gov)):
    try:
        gov.hotlists.add_entry(user, plate=plate, list_code=list_code, case_number=case_number,
                               purpose_code=purpose_code, expires_at=_ts(expires, gov.settings.timezone),
                               description=description,
                               clets_derived=clets_derived == "on", channel="ui")
    except (GovernanceError, ValueError) as exc:
        return render(request, "hotlists.html", user, status=getattr(exc, "status", 422), error=str(exc),
                      entries=gov.hotlists.list_entries(user, channel="ui"))
    return _redirect("/console/hotlists")


# -- audit --------------------------------------------------------------------------
PAGE_SIZE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, username: str = "", action: str = "", outcome: str = "", page: int = 1,
               user: User = Depends(console_user), gov: Governance = Depends(get_gov)):
    page = max(1, min(int(page), 100_000))
    filters = {"username": username[:64] or None, "action": action[:64] or None, "outcome": outcome[:16] or None}
    records, total = gov.audits.access_log_page(user, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                                channel="ui", **filters)
    chain = None
    if allowed(user.role, Action.VERIFY_CHAIN):
        chain = gov.verify_for(user, channel="ui")
    report = gov.audits.report(user, channel="ui")
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return render(request, "audit.html", user, records=records, chain=chain, report=report,
                  audits=gov.audits.list_audits(user, channel="ui"), page=page, pages=pages, total=total,
                  filters={k: v or "" for k, v in filters.items()})


# -- sharing ------------------------------------------------------------------------
@router.get("/sharing", response_class=HTMLResponse)
def sharing_page(request: Request, user: User = Depends(console_user), gov: Governance = Depends(get_gov)):
    return render(request, "sharing.html", user, requests=gov.sharing.list_requests(user, channel="ui"),
                  agencies=gov.store.list_agencies())


@router.post("/sharing", response_class=HTMLResponse)
def sharing_create(request: Request, requesting_agency: str = Form(""), requester_name: str = Form(""),
                   purpose_code: str = Form(""), case_number: str = Form(""), purpose_text: str = Form(""),
                   plate_pattern: str = Form(""), start: str = Form(""), end: str = Form(""),
                   user: User = Depends(console_user), _: None = Depends(check_csrf),
                   gov: Governance = Depends(get_gov)):
    try:
        gov.sharing.create_request(user, requesting_agency=requesting_agency, requester_name=requester_name,
                                   purpose_code=purpose_code, case_number=case_number, purpose_text=purpose_text,
                                   scope=SharingScope(plate_pattern or None, None, _ts(start, gov.settings.timezone),
                                                      _ts(end, gov.settings.timezone)),
                                   channel="ui")
    except (GovernanceError, ValueError) as exc:
        return render(request, "sharing.html", user, status=getattr(exc, "status", 422), error=str(exc),
                      requests=gov.sharing.list_requests(user, channel="ui"), agencies=gov.store.list_agencies())
    return _redirect("/console/sharing")


@router.post("/sharing/{request_id}/review")
def sharing_review(request_id: str, decision: str = Form(""), note: str = Form(""),
                   user: User = Depends(console_user), _: None = Depends(check_csrf),
                   gov: Governance = Depends(get_gov)):
    gov.sharing.review(user, request_id, decision == "approve", note, channel="ui")
    return _redirect("/console/sharing")


# -- retention ----------------------------------------------------------------------
@router.get("/retention", response_class=HTMLResponse)
def retention_page(request: Request, user: User = Depends(console_user), gov: Governance = Depends(get_gov)):
    try:  # holds name cases: only roles that may place them see them, and the view is logged
        holds = [asdict(h) for h in gov.retention.list_holds(user, channel="ui")]
    except GovernanceError:
        holds = []
    return render(request, "retention.html", user, days=gov.retention.retention_days(user.agency), holds=holds)


@router.post("/retention", response_class=HTMLResponse)
def retention_set(request: Request, days: str = Form(""), user: User = Depends(console_user),
                  _: None = Depends(check_csrf), gov: Governance = Depends(get_gov)):
    try:
        gov.retention.set_retention(user, user.agency, days, channel="ui")
    except GovernanceError as exc:
        return render(request, "retention.html", user, status=exc.status, error=str(exc),
                      days=gov.retention.retention_days(user.agency), holds=[])
    return _redirect("/console/retention")
