"""Accounts, MFA login, sessions and authorisation (461.2.1(a)(b)(e), 461.3(d)(e), 461.5(a), 461.8).

* Accounts start ``pending`` and need a supervisor's approval (administrator or designee of
  the same agency, never the applicant).
* Passwords are hashed with argon2id (argon2-cffi); login also needs a TOTP code (pyotp).
* Repeated failures lock the account; idle accounts are suspended; separation deactivates
  at once and ends every session.
* Data access needs a current (unexpired) training record.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Callable, Optional

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .access_log import AccessLog
from .errors import AuthenticationError, NotFound, PermissionDenied, ValidationError
from .models import Session, TrainingRecord, User
from .roles import PLATFORM_AGENCY, Action, Role, allowed
from .settings import GovernanceSettings
from .store import GovernanceStore

DAY_S = 86_400
MIN_PASSWORD_LEN = 12
# Administrative actions that do not touch ALPR data and so do not need training.
NO_TRAINING_NEEDED = frozenset({Action.MANAGE_USERS, Action.APPROVE_USERS, Action.RECORD_TRAINING,
                                Action.MANAGE_AGENCIES, Action.PUBLISH_POLICY, Action.EDIT_AGENCY_PROFILE})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LEN:
        raise ValidationError(f"password must have at least {MIN_PASSWORD_LEN} characters")


class AuthService:
    def __init__(self, store: GovernanceStore, log: AccessLog, settings: GovernanceSettings,
                 clock: Callable[[], float] = time.time):
        self.store, self.log, self.settings, self.clock = store, log, settings, clock
        self.hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)

    # -- helpers -----------------------------------------------------------------
    def _get(self, username: str) -> User:
        user = self.store.get_user(username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    def _admin_log(self, actor: str, agency: str, action: str, target: str, channel: str, detail: str = "") -> None:
        self.log.record(username=actor, agency=agency, action=action, data_elements={"user": target},
                        channel=channel, detail=detail, purpose_code="ADMIN")

    def _same_agency_manager(self, actor: User, target_agency: str, action: Action, channel: str = "api",
                             target: str = "") -> None:
        """Refusals are logged too (1798.90.52: every access attempt, allowed or not)."""
        try:
            self.authorize(actor, action)
            if actor.agency != target_agency:
                raise PermissionDenied(f"{actor.username} may not manage accounts of agency {target_agency}")
        except PermissionDenied as exc:
            self.log.record(username=actor.username, agency=actor.agency, action=action.value,
                            data_elements={"user": target, "user_agency": target_agency}, channel=channel,
                            outcome="denied", detail=str(exc), purpose_code="ADMIN")
            raise

    # -- account lifecycle -------------------------------------------------------
    def bootstrap_admin(self, username: str, agency: str, password: str, display_name: str = "",
                        title: str = "Deputy Chief", training_course: str = "ALPR administrator training",
                        channel: str = "cli") -> tuple[User, str]:
        """Create the first administrator (only when the agency has none). Returns (user, TOTP secret).
        For ``agency == PLATFORM`` the account gets the ``platform`` role (agency registry only)."""
        role = Role.PLATFORM.value if agency == PLATFORM_AGENCY else Role.ADMINISTRATOR.value
        if any(u.role == role and u.agency == agency and u.status != "separated"
               for u in self.store.list_users(agency)):
            raise PermissionDenied(f"agency {agency} already has an administrator; use `alpr users create`")
        check_password_strength(password)
        now = self.clock()
        secret = pyotp.random_base32()
        user = User(username=username, agency=agency, role=role, display_name=display_name,
                    title=title if role == Role.ADMINISTRATOR.value else "Platform operator", status="active", password_hash=self.hasher.hash(password), totp_secret=secret,
                    created_by="bootstrap", created_ts=now, approved_by="bootstrap", approved_ts=now,
                    last_activity_ts=now)
        if self.store.get_user(username) is not None:
            raise ValidationError(f"user {username!r} already exists")
        self.store.put_user(user)
        self.store.add_training(TrainingRecord(username, training_course, now,
                                               now + self.settings.training_valid_days * DAY_S, "bootstrap"))
        self._admin_log(username, agency, "user_bootstrap", username, channel)
        return user, secret

    def create_user(self, actor: User, username: str, agency: str, role: str, password: str,
                    display_name: str = "", title: str = "", channel: str = "api") -> tuple[User, str]:
        """Create a *pending* account; returns (user, TOTP secret to hand to the user once)."""
        self._same_agency_manager(actor, agency, Action.MANAGE_USERS, channel, username)
        try:
            role = Role(role).value
        except ValueError as exc:
            raise ValidationError(f"unknown role {role!r}; one of {[r.value for r in Role]}") from exc
        if role == Role.PLATFORM.value or agency == PLATFORM_AGENCY:
            raise PermissionDenied("platform accounts are created with `alpr users bootstrap --platform`")
        if role == Role.ADMINISTRATOR.value and actor.role != Role.ADMINISTRATOR.value:
            raise PermissionDenied("only the administrator can create another administrator")
        if not username or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
            raise ValidationError("username must be letters, digits, '.', '_' or '-'")
        if self.store.get_user(username) is not None:
            raise ValidationError(f"user {username!r} already exists")
        check_password_strength(password)
        secret = pyotp.random_base32()
        user = User(username=username, agency=agency, role=role, display_name=display_name, title=title,
                    status="pending", password_hash=self.hasher.hash(password), totp_secret=secret,
                    created_by=actor.username, created_ts=self.clock())
        self.store.put_user(user)
        self._admin_log(actor.username, actor.agency, "user_create", username, channel, f"role={role}")
        return user, secret

    def approve_user(self, actor: User, username: str, channel: str = "api") -> User:
        """Supervisor approval (audit rec. 21): activates a pending or suspended account."""
        user = self._get(username)
        self._same_agency_manager(actor, user.agency, Action.APPROVE_USERS, channel, username)
        if actor.username == username:
            raise PermissionDenied("an account cannot be approved by its own holder")
        if user.status == "separated":
            raise PermissionDenied("a separated account cannot be re-activated; create a new one")
        now = self.clock()
        if user.status == "suspended" and not any(
                t.completed_ts >= (user.status_ts or 0) and t.expires_ts > now
                for t in self.store.trainings_for(username)):
            raise PermissionDenied("a suspended account needs refresher training recorded after the suspension "
                                   "before it is re-activated (State Auditor 2019-118 rec. 22)")
        user = _replace(user, status="active", approved_by=actor.username, approved_ts=now, last_activity_ts=now,
                        failed_logins=0, locked_until=None, status_reason="")
        self.store.put_user(user)
        self._admin_log(actor.username, actor.agency, "user_approve", username, channel)
        return user

    def record_training(self, actor: User, username: str, course: str, completed_ts: Optional[float] = None,
                        valid_days: Optional[int] = None, channel: str = "api") -> TrainingRecord:
        user = self._get(username)
        self._same_agency_manager(actor, user.agency, Action.RECORD_TRAINING, channel, username)
        if not course.strip():
            raise ValidationError("training course name is required")
        done = self.clock() if completed_ts is None else completed_ts
        days = self.settings.training_valid_days if valid_days is None else valid_days
        if days <= 0:
            raise ValidationError("training validity must be positive")
        rec = TrainingRecord(username, course.strip(), done, done + days * DAY_S, actor.username)
        self.store.add_training(rec)
        self._admin_log(actor.username, actor.agency, "training_record", username, channel, course)
        return rec

    def training_current(self, username: str, now: Optional[float] = None) -> bool:
        now = self.clock() if now is None else now
        return any(t.completed_ts <= now < t.expires_ts for t in self.store.trainings_for(username))

    def separate_user(self, actor: User, username: str, reason: str = "separation", channel: str = "api") -> User:
        user = self._get(username)
        self._same_agency_manager(actor, user.agency, Action.MANAGE_USERS, channel, username)
        user = _replace(user, status="separated", status_reason=reason, status_ts=self.clock())
        self.store.put_user(user)
        self.store.delete_sessions_for(username)
        self._admin_log(actor.username, actor.agency, "user_separate", username, channel, reason)
        return user

    def suspend_inactive(self, now: Optional[float] = None) -> list[str]:
        """Suspend active accounts idle for ``inactivity_days`` (audit rec. 22); returns usernames."""
        now = self.clock() if now is None else now
        limit = self.settings.inactivity_days * DAY_S
        out = []
        for user in self.store.list_users():
            last = user.last_activity_ts or user.approved_ts or user.created_ts
            if user.status == "active" and now - last >= limit:
                self.store.put_user(_replace(user, status="suspended", status_ts=now,
                                             status_reason=f"inactive {self.settings.inactivity_days} days"))
                self.store.delete_sessions_for(user.username)
                self._admin_log("system", user.agency, "user_suspend_inactive", user.username, "system")
                out.append(user.username)
        return out

    # -- login and sessions --------------------------------------------------------
    def login(self, username: str, password: str, totp_code: str, channel: str = "api") -> tuple[str, Session]:
        """Password + TOTP. Returns (bearer token, session). Every attempt is logged."""
        now = self.clock()
        user = self.store.get_user(username)

        def fail(reason: str, public: str = "invalid username, password or MFA code") -> AuthenticationError:
            self.log.record(username=username, agency=user.agency if user else "", action="login",
                            channel=channel, outcome="denied", detail=reason, purpose_code="AUTH")
            return AuthenticationError(public)

        if user is None:
            raise fail("unknown user")
        if user.locked_until and user.locked_until > now:
            raise fail("account locked", f"account locked after repeated failures; try again in "
                                         f"{int(user.locked_until - now)} s")
        try:
            pw_ok = self.hasher.verify(user.password_hash, password or "")
        except (VerificationError, InvalidHashError):
            pw_ok = False
        mfa_ok = pw_ok and bool(totp_code) and pyotp.TOTP(user.totp_secret).verify(str(totp_code).strip(),
                                                                                  for_time=now, valid_window=1)
        if not (pw_ok and mfa_ok):
            failures = user.failed_logins + 1
            locked = now + self.settings.lockout_s if failures >= self.settings.max_failed_logins else None
            self.store.put_user(_replace(user, failed_logins=0 if locked else failures, locked_until=locked))
            raise fail("bad password" if not pw_ok else "bad MFA code")
        if user.status != "active":
            raise fail(f"account {user.status}", f"account is {user.status}; contact the ALPR administrator")
        last = user.last_activity_ts or user.approved_ts or user.created_ts
        if now - last >= self.settings.inactivity_days * DAY_S:
            self.store.put_user(_replace(user, status="suspended", status_ts=now,
                                         status_reason=f"inactive {self.settings.inactivity_days} days"))
            raise fail("suspended for inactivity", "account suspended for inactivity; ask a supervisor to approve it")
        self.store.put_user(_replace(user, failed_logins=0, locked_until=None, last_activity_ts=now))
        token = secrets.token_urlsafe(32)
        session = Session(hash_token(token), username, now, now + self.settings.session_ttl_s, now, channel)
        self.store.put_session(session)
        self.log.record(username=username, agency=user.agency, action="login", channel=channel, purpose_code="AUTH")
        return token, session

    def authenticate(self, token: Optional[str]) -> User:
        if not token:
            raise AuthenticationError("not logged in")
        th = hash_token(token)
        session = self.store.get_session(th)
        now = self.clock()
        if session is None:
            raise AuthenticationError("unknown or ended session")
        if now >= session.expires_ts or now - session.last_seen_ts >= self.settings.session_idle_s:
            self.store.delete_session(th)
            raise AuthenticationError("session expired; log in again")
        user = self.store.get_user(session.username)
        if user is None or user.status != "active":
            self.store.delete_session(th)
            raise AuthenticationError("account is not active")
        self.store.put_session(_replace(session, last_seen_ts=now))
        self.store.put_user(_replace(user, last_activity_ts=now))
        return user

    def logout(self, token: str) -> None:
        self.store.delete_session(hash_token(token))

    # -- authorisation -------------------------------------------------------------
    def authorize(self, user: User, action: Action | str, agency: Optional[str] = None) -> None:
        """Raise :class:`PermissionDenied` unless ``user`` may do ``action`` (on ``agency``'s data)."""
        action = Action(action)
        if user.status != "active":
            raise PermissionDenied(f"account {user.username} is {user.status}")
        if not allowed(user.role, action):
            raise PermissionDenied(f"role {user.role} may not {action.value}")
        if action not in NO_TRAINING_NEEDED and not self.training_current(user.username):
            raise PermissionDenied(f"{user.username} has no current ALPR training record (policy 461.3(d))")
        if agency is not None and agency != user.agency:
            raise PermissionDenied(f"{user.username} ({user.agency}) may not act on data of agency {agency}")


def _replace(obj, **kw):
    import dataclasses
    return dataclasses.replace(obj, **kw)


def totp_now(secret: str, at: Optional[float] = None) -> str:
    """Current TOTP code for ``secret`` (for tests and the bootstrap hint)."""
    return pyotp.TOTP(secret).at(time.time() if at is None else at)
