"""/api/auth and /api/users: login with MFA, sessions, account lifecycle."""

from __future__ import annotations

from dataclasses import asdict

import pyotp
from fastapi import APIRouter, Depends

from ...models import User
from ...roles import Action
from ...service import Governance
from ..deps import bearer_token, current_user, get_gov
from ..schemas import EnrolIn, LoginIn, MfaResetIn, PasswordChangeIn, ReasonIn, TrainingIn, UserIn

router = APIRouter(tags=["auth"])


def public_user(u: User) -> dict:
    d = asdict(u)
    for secret in ("password_hash", "totp_secret", "enrol_token_hash"):
        d.pop(secret)
    return d


def _otp(secret: str, username: str) -> dict:
    return {"totp_secret": secret,
            "totp_uri": pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="alpr-stream"),
            "note": "add this to your authenticator app now; it is shown only to you, once"}


@router.post("/api/auth/login")
def login(body: LoginIn, gov: Governance = Depends(get_gov)) -> dict:
    token, session = gov.auth.login(body.username, body.password, body.totp, channel="api")
    return {"token": token, "token_type": "bearer", "expires_ts": session.expires_ts,
            "idle_timeout_s": gov.settings.session_idle_s}


@router.post("/api/auth/logout")
def logout(token: str = Depends(bearer_token), user: User = Depends(current_user),
           gov: Governance = Depends(get_gov)) -> dict:
    gov.auth.logout(token)
    return {"ok": True}


@router.get("/api/auth/me")
def me(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return {**public_user(user), "training_current": gov.auth.training_current(user.username)}


@router.get("/api/users")
def list_users(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> list[dict]:
    gov.guard.check(user, Action.MANAGE_USERS,
                    channel="api", data_elements={"users_of": user.agency})
    gov.log.record(username=user.username, agency=user.agency, action="user_list",
                   data_elements={"users_of": user.agency}, purpose_code="ADMIN")
    return [public_user(u) for u in gov.store.list_users(user.agency)]


@router.post("/api/users", status_code=201)
def create_user(body: UserIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    new, token = gov.auth.create_user(user, body.username, user.agency, body.role, body.display_name, body.title)
    return {**public_user(new), "enrol_link": f"/console/enrol?token={token}",
            "note": "give this one-time link to the user only: they set their own password and MFA"}


@router.post("/api/auth/enrol")
def enrol(body: EnrolIn, gov: Governance = Depends(get_gov)) -> dict:
    """The holder of a one-time enrolment link sets their password and receives their MFA secret."""
    user, secret = gov.auth.enrol(body.token, body.password, channel="api")
    return {"username": user.username, **_otp(secret, user.username)}


@router.post("/api/auth/password")
def change_password(body: PasswordChangeIn, user: User = Depends(current_user),
                    gov: Governance = Depends(get_gov)) -> dict:
    gov.auth.change_password(user, body.current_password, body.new_password, body.totp)
    return {"ok": True}


@router.post("/api/auth/mfa")
def reset_mfa(body: MfaResetIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return {"username": user.username, **_otp(gov.auth.reset_mfa(user, body.password, body.totp), user.username)}


@router.post("/api/users/{username}/unlock")
def unlock(username: str, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return public_user(gov.auth.unlock_user(user, username))


@router.post("/api/users/{username}/suspend")
def suspend(username: str, body: ReasonIn, user: User = Depends(current_user),
            gov: Governance = Depends(get_gov)) -> dict:
    return public_user(gov.auth.suspend_user(user, username, body.reason or "suspended"))


@router.post("/api/users/{username}/reenrol")
def reenrol(username: str, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    token = gov.auth.reissue_enrolment(user, username)
    return {"username": username, "enrol_link": f"/console/enrol?token={token}",
            "status": gov.store.get_user(username).status,
            "note": "give this one-time link to the user only; the account needs the approval of another "
                    "supervisor before it can log in again"}


@router.post("/api/users/{username}/approve")
def approve(username: str, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return public_user(gov.auth.approve_user(user, username))


@router.post("/api/users/{username}/training", status_code=201)
def training(username: str, body: TrainingIn, user: User = Depends(current_user),
             gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.auth.record_training(user, username, body.course, body.completed_ts, body.valid_days))


@router.post("/api/users/{username}/separate")
def separate(username: str, body: ReasonIn, user: User = Depends(current_user),
             gov: Governance = Depends(get_gov)) -> dict:
    return public_user(gov.auth.separate_user(user, username, body.reason or "separation"))
