"""The account lifecycle run by supervisors (461.2.1(a)(b)(e), 461.8; State Auditor rec. 21, 22):
bootstrap, create, re-enrol, approve, train, suspend, unlock, separate, idle suspension.

A mixin of :class:`alpr.governance.auth.AuthService` (it uses the service's store, log, settings,
clock, hasher and secret box). Rules:

* A supervisor acts only on accounts of their own agency. An account of another agency answers
  exactly like a missing one (404 ``no user 'x' for agency Y``, as :meth:`Guard.owned` answers), and
  the attempt is logged: no existence oracle.
* Re-issuing an enrolment link (lost MFA device, forgotten password) wipes the credentials and puts
  an active account back to ``pending``: nobody logs in until a supervisor approves it again, and
  that supervisor may not be the one who re-issued the link (two-person rule). Otherwise whoever
  holds the link could set the user's password and MFA and act under their name.
* Two-person rule for new accounts: the supervisor who created an account (and so issued its
  enrolment link) may not give it its first approval; another supervisor of the agency must. An
  agency's administrator and a second supervisor (``bootstrap_admin(role="designee")``, only while
  the administrator is the one active supervisor) are bootstrapped from the server.
* Every refusal is logged (1798.90.52: every access attempt, allowed or not).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from typing import Callable, Optional

import pyotp

from .access_log import AccessLog
from .errors import Conflict, GovernanceError, NotFound, PermissionDenied, ValidationError
from .models import TrainingRecord, User
from .roles import PLATFORM_AGENCY, Action, Role
from .settings import GovernanceSettings
from .store import GovernanceStore

DAY_S = 86_400
MIN_PASSWORD_LEN = 12
SUPERVISOR_ROLES = (Role.ADMINISTRATOR.value, Role.DESIGNEE.value)  # may approve accounts


def new_token() -> str:
    """A random 256-bit bearer token (session or one-time enrolment link). URL-safe base64 can begin
    with '-', which a command line takes for an option (`alpr users enrol --token -X...` failed 1 time
    in 64), so every token starts with a fixed letter."""
    return "t" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LEN:
        raise ValidationError(f"password must have at least {MIN_PASSWORD_LEN} characters")


def _replace(obj, **kw):
    return dataclasses.replace(obj, **kw)


class AccountAdmin:
    store: GovernanceStore
    log: AccessLog
    settings: GovernanceSettings
    clock: Callable[[], float]
    authorize: Callable[..., None]

    # -- helpers -----------------------------------------------------------------
    def _admin_log(self, actor: str, agency: str, action: str, target: str, channel: str, detail: str = "") -> None:
        self.log.record(username=actor, agency=agency, action=action, data_elements={"user": target},
                        channel=channel, detail=detail, purpose_code="ADMIN")

    def _refused(self, actor: User, action: Action | str, exc: GovernanceError, channel: str,
                 target: str = "") -> GovernanceError:
        """Log a refused account action under the actor's agency; returns ``exc`` to raise."""
        self.log.record(username=actor.username, agency=actor.agency, action=getattr(action, "value", action),
                        data_elements={"user": target}, channel=channel, outcome="denied", detail=str(exc),
                        purpose_code="ADMIN")
        return exc

    def _may(self, actor: User, action: Action, channel: str, target: str = "") -> None:
        try:
            self.authorize(actor, action)
        except PermissionDenied as exc:
            raise self._refused(actor, action, exc, channel, target)

    def _managed(self, actor: User, username: str, action: Action, channel: str) -> User:
        """The account ``username`` if the actor may ``action`` it: role first (the same 403 whatever
        the username), then the account, which must be of the actor's agency; a missing account and
        another agency's answer the same 404 (logged)."""
        self._may(actor, action, channel, username)
        user = self.store.get_user(username)
        if user is None or user.agency != actor.agency:
            raise self._refused(actor, action, NotFound(f"no user {username!r} for agency {actor.agency}"),
                                channel, username)
        return user

    # -- account lifecycle -------------------------------------------------------
    def bootstrap_admin(self, username: str, agency: str, password: str, display_name: str = "",
                        title: str = "Deputy Chief", training_course: str = "ALPR administrator training",
                        channel: str = "cli", role: str = "") -> tuple[User, str]:
        """Create the first administrator (only when the agency has none). Returns (user, TOTP secret).
        For ``agency == PLATFORM`` the account gets the ``platform`` role (agency registry only).
        ``role="designee"`` bootstraps the agency's second supervisor, only while its administrator
        is its one active supervisor: every later account is created by one supervisor and approved by
        another (two-person rule, :meth:`approve_user`)."""
        role = self._bootstrap_role(agency, role)
        check_password_strength(password)
        now = self.clock()
        secret = pyotp.random_base32()
        titles = {Role.ADMINISTRATOR.value: title, Role.DESIGNEE.value: "Designee"}
        user = User(username=username, agency=agency, role=role, display_name=display_name,
                    title=titles.get(role, "Platform operator"), status="active",
                    password_hash=self.hasher.hash(password), totp_secret=self.box.seal(secret),  # type: ignore[attr-defined]
                    created_by="bootstrap", created_ts=now, approved_by="bootstrap", approved_ts=now,
                    last_activity_ts=now)
        if self.store.get_user(username) is not None:
            raise ValidationError(f"user {username!r} already exists")
        self.store.put_user(user)
        self.store.add_training(TrainingRecord(username, training_course, now,
                                               now + self.settings.training_valid_days * DAY_S, "bootstrap"))
        self._admin_log(username, agency, "user_bootstrap", username, channel)
        return user, secret

    def _bootstrap_role(self, agency: str, role: str) -> str:
        """The role a bootstrap may create now (see :meth:`bootstrap_admin`), else PermissionDenied."""
        live = [u for u in self.store.list_users(agency) if u.agency == agency and u.status != "separated"]
        if agency == PLATFORM_AGENCY or role in ("", Role.ADMINISTRATOR.value, Role.PLATFORM.value):
            role = Role.PLATFORM.value if agency == PLATFORM_AGENCY else Role.ADMINISTRATOR.value
            if any(u.role == role for u in live):
                raise PermissionDenied(f"agency {agency} already has an administrator; use `alpr users create`")
            return role
        if role != Role.DESIGNEE.value:
            raise ValidationError("a bootstrap creates an administrator, a designee or (--platform) the platform "
                                  "operator; other accounts are created with `alpr users create`")
        supervisors = [u for u in live if u.role in SUPERVISOR_ROLES and u.status == "active"]
        if [u.role for u in supervisors] != [Role.ADMINISTRATOR.value]:
            raise PermissionDenied(f"a designee is bootstrapped only while the administrator is agency {agency}'s "
                                   "one active supervisor; use `alpr users create` and have another supervisor "
                                   "approve")
        return role

    def create_user(self, actor: User, username: str, agency: str, role: str, display_name: str = "",
                    title: str = "", channel: str = "api") -> tuple[User, str]:
        """Create a *pending* account without password or MFA; returns (user, one-time enrolment
        token). The holder opens ``/console/enrol?token=...`` (or ``POST /api/auth/enrol``) and
        sets both; the administrator never sees either."""
        self._may(actor, Action.MANAGE_USERS, channel, username)
        try:
            if agency != actor.agency:
                raise PermissionDenied(f"{actor.username} may create accounts of agency {actor.agency} only")
            try:
                role = Role(role).value
            except ValueError as exc:
                raise ValidationError(f"unknown role {role!r}; one of {[r.value for r in Role]}") from exc
            if role == Role.PLATFORM.value or agency == PLATFORM_AGENCY:
                raise PermissionDenied("platform accounts are created with `alpr users bootstrap --platform`")
            if role == Role.ADMINISTRATOR.value and actor.role != Role.ADMINISTRATOR.value:
                raise PermissionDenied("only the administrator can create another administrator")
            if not username or len(username) > 64 or \
                    not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
                raise ValidationError("username must be 1-64 letters, digits, '.', '_' or '-'")
            if self.store.get_user(username) is not None:
                raise ValidationError(f"user {username!r} already exists")
        except GovernanceError as exc:
            raise self._refused(actor, "user_create", exc, channel, (username or "")[:64])
        token, now = new_token(), self.clock()
        user = User(username=username, agency=agency, role=role, display_name=display_name, title=title,
                    status="pending", created_by=actor.username, created_ts=now,
                    enrol_token_hash=hash_token(token), enrol_expires_ts=now + self.settings.enrol_valid_h * 3600)
        self.store.put_user(user)
        self._admin_log(actor.username, actor.agency, "user_create", username, channel, f"role={role}")
        return user, token

    def reissue_enrolment(self, actor: User, username: str, channel: str = "api") -> str:
        """Lost MFA device or forgotten password: the old credentials stop working at once, an active
        account goes back to *pending*, and the holder enrols again from a new one-time link. Another
        supervisor than ``actor`` must approve the account before it can log in (two-person rule)."""
        user = self._managed(actor, username, Action.MANAGE_USERS, channel)
        if user.status == "separated":
            raise self._refused(actor, "user_reenrol", Conflict("a separated account cannot be re-enrolled; "
                                                                 "create a new one"), channel, username)
        token, now = new_token(), self.clock()
        status = "pending" if user.status == "active" else user.status  # suspended stays suspended (training)
        self.store.put_user(_replace(user, status=status, password_hash="", totp_secret="", totp_last_step=0,
                                     enrol_token_hash=hash_token(token), reissued_by=actor.username,
                                     reissued_ts=now, enrol_expires_ts=now + self.settings.enrol_valid_h * 3600))
        self.store.delete_sessions_for(username)
        self._admin_log(actor.username, actor.agency, "user_reenrol", username, channel,
                        f"account {status} until a supervisor other than {actor.username} approves it")
        return token

    def unlock_user(self, actor: User, username: str, channel: str = "api") -> User:
        """Unlock an account locked by failed logins."""
        user = self._managed(actor, username, Action.MANAGE_USERS, channel)
        user = _replace(user, failed_logins=0, locked_until=None)
        self.store.put_user(user)
        self._admin_log(actor.username, actor.agency, "user_unlock", username, channel)
        return user

    def suspend_user(self, actor: User, username: str, reason: str = "suspended", channel: str = "api") -> User:
        user = self._managed(actor, username, Action.MANAGE_USERS, channel)
        if actor.username == username:
            raise self._refused(actor, "user_suspend", PermissionDenied("an account cannot suspend itself"),
                                channel, username)
        user = _replace(user, status="suspended", status_reason=reason, status_ts=self.clock())
        self.store.put_user(user)
        self.store.delete_sessions_for(username)
        self._admin_log(actor.username, actor.agency, "user_suspend", username, channel, reason)
        return user

    def approve_user(self, actor: User, username: str, channel: str = "api") -> User:
        """Supervisor approval (audit rec. 21): activates a pending or suspended account; never by its
        holder, nor (first approval) by the supervisor who created it, nor by the supervisor who
        re-issued its enrolment link: whoever issued a link may have enrolled in the holder's name."""
        user = self._managed(actor, username, Action.APPROVE_USERS, channel)
        now = self.clock()
        try:
            if actor.username == username:
                raise PermissionDenied("an account cannot be approved by its own holder")
            if not user.approved_by and user.created_by == actor.username:
                raise PermissionDenied(f"two-person rule: {actor.username} created {username} and issued its "
                                       "enrolment link, so another supervisor (administrator or designee of "
                                       f"{actor.agency}) must approve the account; an agency whose administrator "
                                       "is its one supervisor bootstraps a second with "
                                       "`alpr users bootstrap --role designee`")
            if user.reissued_by and user.reissued_by == actor.username:
                raise PermissionDenied(f"two-person rule: {actor.username} re-issued the enrolment link of "
                                       f"{username}, so another supervisor must approve the account")
            if user.status == "separated":
                raise PermissionDenied("a separated account cannot be re-activated; create a new one")
            if user.status == "suspended" and not any(
                    t.completed_ts >= (user.status_ts or 0) and t.expires_ts > now
                    for t in self.store.trainings_for(username)):
                raise PermissionDenied("a suspended account needs refresher training recorded after the "
                                       "suspension before it is re-activated (State Auditor 2019-118 rec. 22)")
        except GovernanceError as exc:
            raise self._refused(actor, "user_approve", exc, channel, username)
        user = _replace(user, status="active", approved_by=actor.username, approved_ts=now, last_activity_ts=now,
                        failed_logins=0, locked_until=None, status_reason="", reissued_by="", reissued_ts=None)
        self.store.put_user(user)
        self._admin_log(actor.username, actor.agency, "user_approve", username, channel)
        return user

    def record_training(self, actor: User, username: str, course: str, completed_ts: Optional[float] = None,
                        valid_days: Optional[int] = None, channel: str = "api") -> TrainingRecord:
        self._managed(actor, username, Action.RECORD_TRAINING, channel)
        done = self.clock() if completed_ts is None else completed_ts
        days = self.settings.training_valid_days if valid_days is None else valid_days
        try:
            if not course.strip():
                raise ValidationError("training course name is required")
            if days <= 0:
                raise ValidationError("training validity must be positive")
        except GovernanceError as exc:
            raise self._refused(actor, "training_record", exc, channel, username)
        rec = TrainingRecord(username, course.strip(), done, done + days * DAY_S, actor.username)
        self.store.add_training(rec)
        self._admin_log(actor.username, actor.agency, "training_record", username, channel, course)
        return rec

    def separate_user(self, actor: User, username: str, reason: str = "separation", channel: str = "api") -> User:
        user = self._managed(actor, username, Action.MANAGE_USERS, channel)
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
