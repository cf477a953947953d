"""Accounts, MFA login, sessions and authorisation (461.2.1(a)(b)(e), 461.3(d)(e), 461.5(a), 461.8).

* Accounts start ``pending`` and need a supervisor's approval (administrator or designee of
  the same agency, never the applicant); a re-issued enrolment link puts the account back to
  ``pending``, and the supervisor who re-issued it may not approve it (see :mod:`.accounts`).
* Passwords are hashed with argon2id (argon2-cffi); login also needs a TOTP code (pyotp), and
  each code is accepted once (the last accepted time step is kept).
* Administrators never see a password or an MFA secret: an account is created with a
  one-time enrolment link (valid ``enrol_valid_h``); its holder sets the password and receives
  the TOTP secret, and can later change both. MFA secrets are encrypted at rest (Fernet, key
  from ``$ALPR_SECRETS_KEY`` or the secrets key file, never in the database).
* Repeated failures lock the account; every failed login answers the same, whatever the
  username; idle accounts are suspended; separation deactivates at once and ends every session.
* Data access needs a current (unexpired) training record.
"""

from __future__ import annotations

import secrets
import time
from typing import Callable, Optional

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .access_log import AccessLog
from .accounts import AccountAdmin, _replace, check_password_strength, hash_token, new_token
from .keys import SecretBox
from .errors import AuthenticationError, NotFound, PermissionDenied, ValidationError
from .models import Session, User
from .roles import Action, allowed
from .settings import GovernanceSettings
from .store import GovernanceStore

DAY_S = 86_400
LOGIN_FAILED = "invalid username, password or MFA code, or the account is locked"
TOTP_STEP_S = 30
# Administrative actions that do not touch ALPR data and so do not need training.
NO_TRAINING_NEEDED = frozenset({Action.MANAGE_USERS, Action.APPROVE_USERS, Action.RECORD_TRAINING,
                                Action.MANAGE_AGENCIES, Action.PUBLISH_POLICY, Action.EDIT_AGENCY_PROFILE})


class AuthService(AccountAdmin):
    """Login, sessions, self-service credentials and authorisation; the account lifecycle run by
    supervisors is :class:`~alpr.governance.accounts.AccountAdmin`."""

    def __init__(self, store: GovernanceStore, log: AccessLog, settings: GovernanceSettings,
                 clock: Callable[[], float] = time.time, secrets_key: Optional[bytes] = None):
        self.store, self.log, self.settings, self.clock = store, log, settings, clock
        self.hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)
        if secrets_key is None:
            from .keys import SECRETS_KEY_ENV, load_key
            secrets_key = load_key(SECRETS_KEY_ENV, settings.secrets_key_file)
        self.box = SecretBox(secrets_key)
        self._dummy_hash = self.hasher.hash(secrets.token_hex(8))  # equal work for unknown usernames

    # -- helpers -----------------------------------------------------------------
    def _get(self, username: str) -> User:
        """The caller's own account (password, MFA): supervisors' actions use ``_managed``."""
        user = self.store.get_user(username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    def enrol(self, token: str, password: str, channel: str = "api") -> tuple[User, str]:
        """The holder of a one-time link sets their password; returns (user, TOTP secret, shown to them only)."""
        th = hash_token(token or "")
        now = self.clock()
        user = next((u for u in self.store.list_users() if u.enrol_token_hash and
                     secrets.compare_digest(u.enrol_token_hash, th)), None)
        if user is None or (user.enrol_expires_ts or 0) <= now or user.status == "separated":
            self.log.record(username=user.username if user else "", agency=user.agency if user else "",
                            action="user_enrol", channel=channel, outcome="denied",
                            detail="unknown, used or expired enrolment link", purpose_code="AUTH")
            raise AuthenticationError("this enrolment link is unknown, already used or expired; ask for a new one")
        check_password_strength(password)
        secret = pyotp.random_base32()
        user = _replace(user, password_hash=self.hasher.hash(password), totp_secret=self.box.seal(secret),
                        totp_last_step=0, enrol_token_hash="", enrol_expires_ts=None)
        self.store.put_user(user)
        self.log.record(username=user.username, agency=user.agency, action="user_enrol", channel=channel,
                        purpose_code="AUTH", data_elements={"user": user.username})
        return user, secret

    def change_password(self, user: User, current: str, new: str, totp_code: str, channel: str = "api") -> None:
        self._reauth(user, current, totp_code, "password_change", channel)
        check_password_strength(new)
        if current == new:
            raise ValidationError("choose a password different from the current one")
        self.store.put_user(_replace(self._get(user.username), password_hash=self.hasher.hash(new)))
        self.log.record(username=user.username, agency=user.agency, action="password_change", channel=channel,
                        purpose_code="AUTH", data_elements={"user": user.username})

    def reset_mfa(self, user: User, password: str, totp_code: str, channel: str = "api") -> str:
        """The holder replaces their own MFA secret (after proving password + current code)."""
        self._reauth(user, password, totp_code, "mfa_reset", channel)
        secret = pyotp.random_base32()
        self.store.put_user(_replace(self._get(user.username), totp_secret=self.box.seal(secret), totp_last_step=0))
        self.log.record(username=user.username, agency=user.agency, action="mfa_reset", channel=channel,
                        purpose_code="AUTH", data_elements={"user": user.username})
        return secret

    def _reauth(self, user: User, password: str, totp_code: str, action: str, channel: str) -> None:
        current = self._get(user.username)
        step = self._totp_step(current, totp_code) if self._password_ok(current, password) else None
        if step is None or not self.store.claim_totp_step(current.username, step):
            self.log.record(username=user.username, agency=user.agency, action=action, channel=channel,
                            outcome="denied", detail="bad password or MFA code", purpose_code="AUTH")
            raise AuthenticationError("password or MFA code is wrong")

    def _password_ok(self, user: Optional[User], password: str) -> bool:
        try:
            return self.hasher.verify(user.password_hash if user and user.password_hash else self._dummy_hash,
                                      password or "") and bool(user and user.password_hash)
        except (VerificationError, InvalidHashError):
            return False

    def _totp_step(self, user: User, code: str) -> Optional[int]:
        """The time step ``code`` belongs to (now +- 1 step), if it is newer than the last accepted one."""
        code = str(code or "").strip()
        if not code or not user.totp_secret:
            return None
        try:
            totp = pyotp.TOTP(self.box.open(user.totp_secret))
        except Exception:  # noqa: BLE001 - an unreadable secret is a failed login, never a 500
            return None
        now = self.clock()
        for off in (0, -1, 1):
            step = int((now + off * TOTP_STEP_S) // TOTP_STEP_S)
            if step > user.totp_last_step and secrets.compare_digest(totp.at(step * TOTP_STEP_S), code):
                return step
        return None

    def training_current(self, username: str, now: Optional[float] = None) -> bool:
        now = self.clock() if now is None else now
        return any(t.completed_ts <= now < t.expires_ts for t in self.store.trainings_for(username))

    # -- login and sessions --------------------------------------------------------
    def login(self, username: str, password: str, totp_code: str, channel: str = "api") -> tuple[str, Session]:
        """Password + TOTP (each code once). Returns (bearer token, session). Every attempt is logged;
        every failure answers the same, whatever the username or the reason."""
        now = self.clock()
        user = self.store.get_user(username)

        def fail(reason: str, public: str = LOGIN_FAILED) -> AuthenticationError:
            self.log.record(username=username, agency=user.agency if user else "", action="login",
                            channel=channel, outcome="denied", detail=reason, purpose_code="AUTH")
            return AuthenticationError(public)

        pw_ok = self._password_ok(user, password)  # the same argon2 work for unknown users
        if user is None:
            raise fail("unknown user")
        if user.locked_until and user.locked_until > now:
            raise fail("account locked")
        step = self._totp_step(user, totp_code) if pw_ok else None
        # the code is spent by an atomic compare-and-set: of concurrent logins with one code, one wins
        if step is None or not self.store.claim_totp_step(username, step):
            self._count_failed_login(user, now)
            raise fail("bad password" if not pw_ok else "bad or reused MFA code")
        user = _replace(user, totp_last_step=step)
        if user.status != "active":
            raise fail(f"account {user.status}", f"account is {user.status}; contact the ALPR administrator")
        last = user.last_activity_ts or user.approved_ts or user.created_ts
        if now - last >= self.settings.inactivity_days * DAY_S:
            self.store.put_user(_replace(user, status="suspended", status_ts=now,
                                         status_reason=f"inactive {self.settings.inactivity_days} days"))
            raise fail("suspended for inactivity", "account suspended for inactivity; ask a supervisor to approve it")
        self.store.put_user(_replace(user, failed_logins=0, locked_until=None, last_activity_ts=now))
        token = new_token()
        session = Session(hash_token(token), username, now, now + self.settings.session_ttl_s, now, channel)
        self.store.put_session(session)
        self.log.record(username=username, agency=user.agency, action="login", channel=channel, purpose_code="AUTH")
        return token, session

    def _count_failed_login(self, user: User, now: float) -> None:
        failures = user.failed_logins + 1
        locked = now + self.settings.lockout_s if failures >= self.settings.max_failed_logins else None
        self.store.put_user(_replace(user, failed_logins=0 if locked else failures, locked_until=locked))

    def authenticate(self, token: Optional[str], channel: str = "api") -> User:
        """The session's user; every refused token is logged (1798.90.52: failed attempts too)."""
        def fail(reason: str, username: str = "", agency: str = "") -> AuthenticationError:
            self.log.record(username=username, agency=agency, action="session", channel=channel,
                            outcome="denied", detail=reason, purpose_code="AUTH")
            return AuthenticationError(reason)

        if not token:
            raise fail("not logged in")
        th = hash_token(token)
        session = self.store.get_session(th)
        now = self.clock()
        if session is None:
            raise fail("unknown or ended session")
        if now >= session.expires_ts or now - session.last_seen_ts >= self.settings.session_idle_s:
            self.store.delete_session(th)
            raise fail("session expired; log in again", session.username)
        user = self.store.get_user(session.username)
        if user is None or user.status != "active":
            self.store.delete_session(th)
            raise fail("account is not active", session.username, user.agency if user else "")
        self.store.put_session(_replace(session, last_seen_ts=now))
        self.store.put_user(_replace(user, last_activity_ts=now))
        return user

    def session_user(self, token: Optional[str]) -> Optional[User]:
        """The active user of the live session ``token``, read only (nothing touched, nothing logged):
        names the caller of a request refused before any service ran."""
        session = self.store.get_session(hash_token(token)) if token else None
        now = self.clock()
        if session is None or now >= session.expires_ts or now - session.last_seen_ts >= self.settings.session_idle_s:
            return None
        user = self.store.get_user(session.username)
        return user if user is not None and user.status == "active" else None

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


def totp_now(secret: str, at: Optional[float] = None) -> str:
    """Current TOTP code for ``secret`` (for tests and the bootstrap hint)."""
    return pyotp.TOTP(secret).at(time.time() if at is None else at)
