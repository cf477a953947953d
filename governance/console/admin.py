"""Console screens for a records supervisor: users, approvals and training; the one-time
enrolment page; an alert's detail view with the plate crop and the NCIC confirmation clock;
evidence export. Every action goes through the same services as the API (channel "ui")."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Optional

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from alpr.connectors.stores.base import ReadQuery

from ..errors import AuthenticationError, GovernanceError, NotFound
from ..models import User
from ..roles import Action, Role
from ..deps import get_gov
from ..service import Governance
from .routes import _redirect, check_csrf, console_user, render

router = APIRouter(prefix="/console", include_in_schema=False)

NCIC_URGENT_S, NCIC_ROUTINE_S = 10 * 60, 60 * 60   # NCIC hit confirmation: urgent 10 minutes, routine 1 hour
URGENT_PRIORITY = 80                                  # entries at or above this priority are urgent hits


# -- users, approvals, training ------------------------------------------------------
def _users_page(request: Request, user: User, gov: Governance, status: int = 200, **ctx) -> HTMLResponse:
    gov.guard.check(user, Action.MANAGE_USERS, channel="ui", data_elements={"users_of": user.agency})
    users = gov.store.list_users(user.agency)
    gov.log.record(username=user.username, agency=user.agency, action="user_list", channel="ui",
                   data_elements={"users_of": user.agency, "count": len(users)}, purpose_code="ADMIN")
    rows = [(u, gov.auth.training_current(u.username)) for u in users]
    roles = [r.value for r in Role if r is not Role.PLATFORM]
    return render(request, "users.html", user, status=status, rows=rows, roles=roles, **ctx)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, user: User = Depends(console_user), gov: Governance = Depends(get_gov)):
    return _users_page(request, user, gov)


@router.post("/users", response_class=HTMLResponse)
def users_create(request: Request, username: str = Form(""), role: str = Form("operator"),
                 display_name: str = Form(""), title: str = Form(""), user: User = Depends(console_user),
                 _: None = Depends(check_csrf), gov: Governance = Depends(get_gov)):
    try:
        new, token = gov.auth.create_user(user, username, user.agency, role, display_name, title, channel="ui")
    except GovernanceError as exc:
        return _users_page(request, user, gov, status=exc.status, error=str(exc))
    link = str(request.base_url).rstrip("/") + f"/console/enrol?token={token}"
    return _users_page(request, user, gov, created=new.username, link=link)


@router.post("/users/{username}/{step}", response_class=HTMLResponse)
def users_step(request: Request, username: str, step: str, course: str = Form(""), reason: str = Form(""),
               user: User = Depends(console_user), _: None = Depends(check_csrf), gov: Governance = Depends(get_gov)):
    try:
        if step == "approve":
            gov.auth.approve_user(user, username, channel="ui")
        elif step == "train":
            gov.auth.record_training(user, username, course, channel="ui")
        elif step == "suspend":
            gov.auth.suspend_user(user, username, reason or "suspended", channel="ui")
        elif step == "unlock":
            gov.auth.unlock_user(user, username, channel="ui")
        elif step == "reenrol":
            token = gov.auth.reissue_enrolment(user, username, channel="ui")
            link = str(request.base_url).rstrip("/") + f"/console/enrol?token={token}"
            return _users_page(request, user, gov, created=username, link=link)
        else:
            raise NotFound(f"unknown step {step!r}")
    except GovernanceError as exc:
        return _users_page(request, user, gov, status=exc.status, error=str(exc))
    return _redirect("/console/users")


# -- one-time enrolment (no session: the link is the credential, once) ------------------
@router.get("/enrol", response_class=HTMLResponse)
def enrol_page(request: Request, token: str = ""):
    return render(request, "enrol.html", None, token=token)


@router.post("/enrol", response_class=HTMLResponse)
def enrol(request: Request, token: str = Form(""), password: str = Form(""), password2: str = Form(""),
          gov: Governance = Depends(get_gov)):
    import pyotp
    if password != password2:
        return render(request, "enrol.html", None, status=422, token=token, error="the passwords differ")
    try:
        holder, secret = gov.auth.enrol(token, password, channel="ui")
    except (AuthenticationError, GovernanceError) as exc:
        return render(request, "enrol.html", None, status=exc.status, token=token, error=str(exc))
    uri = pyotp.TOTP(secret).provisioning_uri(name=holder.username, issuer_name="alpr-stream")
    return render(request, "enrol.html", None, done=holder.username, secret=secret, uri=uri)


# -- alert detail: hit details, plate crop, NCIC confirmation clock --------------------
def _alert(gov: Governance, user: User, alert_id: str):
    alert, wf = gov.alerts._load(user, alert_id, Action.VIEW_ALERTS, "ui")
    return alert, wf


def ncic_clock(alert, wf, now: float) -> dict:
    urgent = alert.priority >= URGENT_PRIORITY
    start = alert.emitted_ts or alert.capture_ts
    deadline = start + (NCIC_URGENT_S if urgent else NCIC_ROUTINE_S)
    done = wf.verified_ts is not None
    return {"urgent": urgent, "deadline": deadline, "remaining_s": int(deadline - now), "verified": done,
            "overdue": not done and now > deadline, "limit": "10 min" if urgent else "1 h"}


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_detail(request: Request, alert_id: str, user: User = Depends(console_user),
                 gov: Governance = Depends(get_gov)):
    events = gov.alerts.history(user, alert_id, channel="ui")  # checks, logs
    alert, wf = _alert(gov, user, alert_id)
    return render(request, "alert.html", user, a=alert, wf=wf, events=events,
                  clock=ncic_clock(alert, wf, gov.clock()), has_image=gov.evidence.image_loader is not None)


def _best_read(gov: Governance, alert):
    reads = gov.reads.search_reads(ReadQuery(alert.read_plate, alert.camera_id, alert.capture_ts - 1,
                                             alert.capture_ts + 1, [alert.agency], 10))
    return min(reads, key=lambda r: abs(r.capture_ts - alert.capture_ts)) if reads else None


@router.get("/alerts/{alert_id}/crop.jpg")
def alert_crop(alert_id: str, user: User = Depends(console_user), gov: Governance = Depends(get_gov)):
    """The plate crop from the alert's frame (the read's plate polygon, with a margin)."""
    from PIL import Image
    alert, _ = _alert(gov, user, alert_id)
    read = _best_read(gov, alert)
    frame = gov.evidence.image_loader(read) if (read is not None and gov.evidence.image_loader) else None
    if not frame:
        raise NotFound(f"no stored frame for alert {alert_id}")
    img = Image.open(io.BytesIO(frame)).convert("RGB")
    xs = [p[0] for p in read.coordinates] or [0, img.width]
    ys = [p[1] for p in read.coordinates] or [0, img.height]
    mx, my = max(4, (max(xs) - min(xs)) // 5), max(4, (max(ys) - min(ys)) // 3)
    box = (max(0, int(min(xs)) - mx), max(0, int(min(ys)) - my), min(img.width, int(max(xs)) + mx),
           min(img.height, int(max(ys)) + my))
    out = io.BytesIO()
    img.crop(box).save(out, "JPEG", quality=90)
    gov.log.record(username=user.username, agency=user.agency, action="alert_image",
                   data_elements={"alert_id": alert_id, "plate": alert.read_plate}, purpose_code="HOTLIST-HIT",
                   case_number=alert.case_number, channel="ui")
    return Response(out.getvalue(), media_type="image/jpeg")


# -- evidence export -----------------------------------------------------------------
@router.post("/evidence/{case_number}/export")
def evidence_export(case_number: str, user: User = Depends(console_user), _: None = Depends(check_csrf),
                    gov: Governance = Depends(get_gov)) -> Response:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / f"evidence-{case_number}.zip"
        gov.evidence.export_evidence(user, case_number, out, channel="ui")
        data = out.read_bytes()
    safe = "".join(ch for ch in case_number if ch.isalnum() or ch in "-_.") or "case"
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="evidence-{safe}.zip"'})


