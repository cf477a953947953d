"""Accounts, MFA, lockout, sessions, training and the permission matrix (461.2, 461.3(d), 461.5(a), 461.8)."""

import pytest

from alpr.governance.auth import totp_now
from alpr.governance.errors import AuthenticationError, PermissionDenied, ValidationError
from alpr.governance.roles import PERMISSIONS, Action, Role, allowed

from governance_helpers import PASSWORD, Clock, add_user, bootstrap, login, make_gov


def test_password_is_argon2_hashed_and_totp_secret_returned_once():
    gov = make_gov()
    admin, secret = bootstrap(gov)
    stored = gov.store.get_user(admin.username)
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert len(secret) >= 16


def test_login_requires_mfa_code():
    gov = make_gov()
    admin, secret = bootstrap(gov)
    with pytest.raises(AuthenticationError):
        gov.auth.login(admin.username, PASSWORD, "")
    with pytest.raises(AuthenticationError):
        gov.auth.login(admin.username, PASSWORD, "000000" if totp_now(secret, gov.clock()) != "000000" else "111111")
    token = login(gov, admin.username, secret)
    assert gov.auth.authenticate(token).username == admin.username


def test_new_account_needs_supervisor_approval_not_self():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    user, secret = gov.auth.create_user(admin, "ofc.lee", admin.agency, "operator", PASSWORD)
    assert user.status == "pending"
    with pytest.raises(AuthenticationError, match="pending"):
        login(gov, "ofc.lee", secret)
    designee, _ = add_user(gov, admin, "sgt.d", "designee")
    with pytest.raises(PermissionDenied):
        gov.auth.approve_user(designee, "sgt.d")  # own account
    approved = gov.auth.approve_user(designee, "ofc.lee")
    assert approved.status == "active" and approved.approved_by == "sgt.d"


def test_operator_cannot_create_or_approve_accounts():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    with pytest.raises(PermissionDenied):
        gov.auth.create_user(op, "ofc.b", op.agency, "operator", PASSWORD)


def test_lockout_after_repeated_failures_then_unlock_after_period():
    clock = Clock()
    gov = make_gov(clock, max_failed_logins=3, lockout_s=600)
    admin, secret = bootstrap(gov)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            gov.auth.login(admin.username, "wrong password!!", totp_now(secret, clock()))
    with pytest.raises(AuthenticationError, match="locked"):
        login(gov, admin.username, secret)  # right credentials, still locked
    clock.advance(601)
    assert login(gov, admin.username, secret)
    denied = [r for r in gov.store.access_records() if r.action == "login" and r.outcome == "denied"]
    assert len(denied) == 4


def test_session_expires_when_idle_and_absolutely():
    clock = Clock()
    gov = make_gov(clock, session_idle_s=300, session_ttl_s=900)
    admin, secret = bootstrap(gov)
    token = login(gov, admin.username, secret)
    clock.advance(299)
    gov.auth.authenticate(token)
    clock.advance(301)
    with pytest.raises(AuthenticationError, match="expired"):
        gov.auth.authenticate(token)
    token = login(gov, admin.username, secret)
    for _ in range(3):  # active every 250 s: never idle, but the absolute 900 s lifetime ends it
        clock.advance(250)
        gov.auth.authenticate(token)
    clock.advance(250)
    with pytest.raises(AuthenticationError, match="expired"):
        gov.auth.authenticate(token)


def test_inactive_accounts_are_suspended_after_90_days():
    clock = Clock()
    gov = make_gov(clock)
    admin, _ = bootstrap(gov)
    op, secret = add_user(gov, admin, "ofc.idle", "operator")
    clock.advance(89 * 86_400)
    assert "ofc.idle" not in gov.auth.suspend_inactive()
    clock.advance(2 * 86_400)
    assert "ofc.idle" in gov.auth.suspend_inactive()
    assert gov.store.get_user("ofc.idle").status == "suspended"
    with pytest.raises(AuthenticationError, match="suspended"):
        login(gov, "ofc.idle", secret)
    with pytest.raises(PermissionDenied, match="refresher training"):
        gov.auth.approve_user(admin, "ofc.idle")  # reactivation needs retraining first
    clock.advance(60)
    gov.auth.record_training(admin, "ofc.idle", "ALPR refresher")
    gov.auth.approve_user(admin, "ofc.idle")
    assert login(gov, "ofc.idle", secret)


def test_separation_deactivates_and_ends_sessions():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, secret = add_user(gov, admin, "ofc.gone", "operator")
    token = login(gov, "ofc.gone", secret)
    gov.auth.separate_user(admin, "ofc.gone", "retired")
    with pytest.raises(AuthenticationError):
        gov.auth.authenticate(token)
    with pytest.raises(PermissionDenied):
        gov.auth.approve_user(admin, "ofc.gone")


def test_training_required_and_expires():
    clock = Clock()
    gov = make_gov(clock)
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.new", "operator", trained=False)
    with pytest.raises(PermissionDenied, match="training"):
        gov.auth.authorize(op, Action.SEARCH_READS)
    gov.auth.record_training(admin, "ofc.new", "ALPR course", valid_days=30)
    gov.auth.authorize(op, Action.SEARCH_READS)
    clock.advance(31 * 86_400)
    with pytest.raises(PermissionDenied, match="training"):
        gov.auth.authorize(gov.store.get_user("ofc.new"), Action.SEARCH_READS)


def test_weak_password_refused():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    with pytest.raises(ValidationError):
        gov.auth.create_user(admin, "ofc.x", admin.agency, "operator", "short")


@pytest.mark.parametrize("role", list(Role))
def test_permission_matrix_is_least_privilege(role):
    gov = make_gov()
    admin, _ = bootstrap(gov)
    if role is Role.PLATFORM:
        with pytest.raises(PermissionDenied):  # an agency cannot create platform accounts
            gov.auth.create_user(admin, "u.platform", admin.agency, "platform", PASSWORD)
        user = bootstrap(gov, "PLATFORM", "u.platform")[0]
        assert PERMISSIONS[role] == {Action.MANAGE_AGENCIES}
    else:
        user = admin if role is Role.ADMINISTRATOR else add_user(gov, admin, f"u.{role.value}", role.value)[0]
        assert (Action.MANAGE_AGENCIES in PERMISSIONS[role]) is False
    for action in Action:
        if allowed(role, action):
            gov.auth.authorize(user, action)
        else:
            with pytest.raises(PermissionDenied):
                gov.auth.authorize(user, action)
    assert (Action.SEARCH_READS in PERMISSIONS[role]) == (role in (Role.ADMINISTRATOR, Role.DESIGNEE, Role.OPERATOR))
    assert (Action.APPROVE_SHARE in PERMISSIONS[role]) == (role in (Role.ADMINISTRATOR, Role.DESIGNEE))
