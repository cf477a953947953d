"""Accounts, MFA, lockout, sessions, training and the permission matrix (461.2, 461.3(d), 461.5(a), 461.8)."""

import pytest

from alpr.governance.auth import totp_now
from alpr.governance.errors import AuthenticationError, NotFound, PermissionDenied, ValidationError
from alpr.governance.roles import PERMISSIONS, Action, Role, allowed

from governance_helpers import PASSWORD, Clock, add_user, bootstrap, login, make_gov, second_supervisor


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
    user, link = gov.auth.create_user(admin, "ofc.lee", admin.agency, "operator")
    _, secret = gov.auth.enrol(link, PASSWORD)
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
        gov.auth.create_user(op, "ofc.b", op.agency, "operator")


def test_lockout_after_repeated_failures_then_unlock_after_period():
    clock = Clock()
    gov = make_gov(clock, max_failed_logins=3, lockout_s=600)
    admin, secret = bootstrap(gov)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            gov.auth.login(admin.username, "wrong password!!", totp_now(secret, clock()))
    with pytest.raises(AuthenticationError, match="locked") as locked:
        login(gov, admin.username, secret)  # right credentials, still locked
    with pytest.raises(AuthenticationError) as unknown:
        gov.auth.login("no.such.user", PASSWORD, "123456")
    assert str(locked.value) == str(unknown.value)  # the same answer whatever the username
    clock.advance(601)
    assert login(gov, admin.username, secret)
    denied = [r for r in gov.store.access_records() if r.action == "login" and r.outcome == "denied"
              and r.username == admin.username]
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
    _, link = gov.auth.create_user(admin, "ofc.x", admin.agency, "operator")
    with pytest.raises(ValidationError):
        gov.auth.enrol(link, "short")


@pytest.mark.parametrize("role", list(Role))
def test_permission_matrix_is_least_privilege(role):
    gov = make_gov()
    admin, _ = bootstrap(gov)
    if role is Role.PLATFORM:
        with pytest.raises(PermissionDenied):  # an agency cannot create platform accounts
            gov.auth.create_user(admin, "u.platform", admin.agency, "platform")
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


# ---------------------------------------------------------------------------------------------
# Issue 12 item 8: accounts a CJIS auditor would accept.
def test_each_totp_code_is_accepted_once():
    clock = Clock()
    gov = make_gov(clock)
    admin, secret = bootstrap(gov)
    code = totp_now(secret, clock())
    gov.auth.login(admin.username, PASSWORD, code)
    with pytest.raises(AuthenticationError):
        gov.auth.login(admin.username, PASSWORD, code)  # replayed within its 30 s window
    clock.advance(10)
    with pytest.raises(AuthenticationError):
        gov.auth.login(admin.username, PASSWORD, code)  # still the same time step
    last = gov.store.access_records()[-1]
    assert last.outcome == "denied" and "reused" in last.detail
    clock.advance(30)
    assert gov.auth.login(admin.username, PASSWORD, totp_now(secret, clock()))[0]


def test_users_set_and_change_their_own_password_and_mfa_admins_never_see_them():
    clock = Clock()
    gov = make_gov(clock)
    admin, _ = bootstrap(gov)
    user, link = gov.auth.create_user(admin, "ofc.self", admin.agency, "operator")
    assert user.password_hash == "" and user.totp_secret == ""  # nothing for the administrator to see
    with pytest.raises(AuthenticationError):
        gov.auth.enrol("not-the-link", PASSWORD)
    _, secret = gov.auth.enrol(link, PASSWORD)
    with pytest.raises(AuthenticationError, match="already used"):
        gov.auth.enrol(link, "another password 123")  # one-time
    gov.auth.approve_user(second_supervisor(gov, admin), "ofc.self")
    me = gov.store.get_user("ofc.self")
    clock.advance(30)
    new_pw = "a different long passphrase"
    gov.auth.change_password(me, PASSWORD, new_pw, totp_now(secret, clock()))
    clock.advance(30)
    with pytest.raises(AuthenticationError):
        gov.auth.login("ofc.self", PASSWORD, totp_now(secret, clock()))
    assert gov.auth.login("ofc.self", new_pw, totp_now(secret, clock()))[0]
    clock.advance(30)
    new_secret = gov.auth.reset_mfa(me, new_pw, totp_now(secret, clock()))
    clock.advance(30)
    with pytest.raises(AuthenticationError):
        gov.auth.login("ofc.self", new_pw, totp_now(secret, clock()))  # the old secret is dead
    clock.advance(30)
    assert gov.auth.login("ofc.self", new_pw, totp_now(new_secret, clock()))[0]
    # an expired link is refused
    _, old_link = gov.auth.create_user(admin, "ofc.late", admin.agency, "operator")
    clock.advance(gov.settings.enrol_valid_h * 3600 + 1)
    with pytest.raises(AuthenticationError, match="expired"):
        gov.auth.enrol(old_link, PASSWORD)
    actions = [r.action for r in gov.store.access_records()]
    assert {"user_enrol", "password_change", "mfa_reset"} <= set(actions)


def test_mfa_secrets_are_encrypted_at_rest_with_a_key_outside_the_database(tmp_path, monkeypatch):
    import sqlite3

    from alpr.governance.keys import SecretBox
    monkeypatch.setenv("ALPR_SECRETS_KEY", "ab" * 32)
    gov = make_gov(db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"))
    admin, secret = bootstrap(gov)
    _, s2 = add_user(gov, admin, "ofc.enc", "operator")
    gov.close()
    raw = sqlite3.connect(str(tmp_path / "gov.db")).execute("SELECT body FROM users").fetchall()
    blob = "".join(b for (b,) in raw)
    assert secret not in blob and s2 not in blob and "enc:v1:" in blob
    with pytest.raises(Exception):
        SecretBox(bytes(32)).open(next(json_body["totp_secret"] for json_body in map(_j, raw)))  # wrong key
    assert ("ab" * 32) not in blob


def _j(row):
    import json
    return json.loads(row[0])


def test_unlock_and_suspend_are_admin_actions_of_the_same_agency():
    clock = Clock()
    gov = make_gov(clock, max_failed_logins=2)
    admin, _ = bootstrap(gov)
    op, secret = add_user(gov, admin, "ofc.l", "operator")
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            gov.auth.login("ofc.l", "wrong password!!", totp_now(secret, clock()))
    with pytest.raises(AuthenticationError):
        login(gov, "ofc.l", secret)
    other_admin, _ = bootstrap(gov, "PSPD")
    with pytest.raises(NotFound):  # another agency's account answers like a missing one
        gov.auth.unlock_user(other_admin, "ofc.l")
    gov.auth.unlock_user(admin, "ofc.l")
    assert login(gov, "ofc.l", secret)
    gov.auth.suspend_user(admin, "ofc.l", "under review")
    with pytest.raises(AuthenticationError, match="suspended"):
        login(gov, "ofc.l", secret)


def test_reissued_enrolment_cannot_be_used_by_the_administrator_to_take_over_the_account():
    """Issue 12 review: an administrator re-issued a user's enrolment link, set the password and MFA
    from it and logged in as the user, whose account stayed active. Now the account is pending until
    another supervisor approves it, and the re-issuer's own approval is refused; both are logged."""
    clock = Clock()
    gov = make_gov(clock)
    admin, _ = bootstrap(gov)
    victim, victim_secret = add_user(gov, admin, "ofc.victim", "operator")
    designee, _ = add_user(gov, admin, "sgt.second", "designee")
    assert login(gov, "ofc.victim", victim_secret)
    # the administrator re-issues the link and uses it (they hold it) to set the victim's credentials
    link = gov.auth.reissue_enrolment(admin, "ofc.victim")
    assert gov.store.get_user("ofc.victim").status == "pending"
    _, attacker_secret = gov.auth.enrol(link, "attacker chosen password")
    clock.advance(30)
    with pytest.raises(AuthenticationError, match="pending"):
        gov.auth.login("ofc.victim", "attacker chosen password", totp_now(attacker_secret, clock()))
    with pytest.raises(PermissionDenied, match="two-person rule"):
        gov.auth.approve_user(admin, "ofc.victim")
    assert gov.store.get_user("ofc.victim").status == "pending"
    records = gov.store.access_records()
    reenrol = next(r for r in records if r.action == "user_reenrol")
    assert (reenrol.username, reenrol.outcome, reenrol.data_elements) == ("chief.dhspd", "allowed",
                                                                         {"user": "ofc.victim"})
    refused = records[-1]
    assert (refused.action, refused.outcome, refused.username) == ("user_approve", "denied", "chief.dhspd")
    assert "two-person rule" in refused.detail
    # a second supervisor approves (the holder re-enrolled); the rule is then spent
    approved = gov.auth.approve_user(designee, "ofc.victim")
    assert approved.status == "active" and approved.approved_by == "sgt.second" and not approved.reissued_by
    clock.advance(30)
    assert gov.auth.login("ofc.victim", "attacker chosen password", totp_now(attacker_secret, clock()))[0]


def test_reissue_keeps_a_suspended_account_suspended_and_refuses_a_separated_one():
    clock = Clock()
    gov = make_gov(clock)
    admin, _ = bootstrap(gov)
    add_user(gov, admin, "ofc.s", "operator")
    add_user(gov, admin, "ofc.x", "operator")
    designee, _ = add_user(gov, admin, "sgt.d", "designee")
    clock.advance(60)
    gov.auth.suspend_user(admin, "ofc.s", "review")
    gov.auth.reissue_enrolment(admin, "ofc.s")
    assert gov.store.get_user("ofc.s").status == "suspended"  # still needs refresher training to come back
    with pytest.raises(PermissionDenied, match="refresher training"):
        gov.auth.approve_user(designee, "ofc.s")
    gov.auth.separate_user(admin, "ofc.x")
    from alpr.governance.errors import Conflict
    with pytest.raises(Conflict, match="separated"):
        gov.auth.reissue_enrolment(admin, "ofc.x")
    assert gov.store.get_user("ofc.x").status == "separated"
    assert gov.store.access_records()[-1].outcome == "denied"


def test_another_agencys_account_answers_exactly_like_a_missing_one_and_is_logged():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    add_user(gov, admin, "ofc.home", "operator")
    other_admin, _ = bootstrap(gov, "PSPD")
    answers = {}
    for username in ("ofc.home", "no.such.user"):
        for name, call in (("approve", gov.auth.approve_user), ("unlock", gov.auth.unlock_user),
                           ("suspend", gov.auth.suspend_user), ("separate", gov.auth.separate_user),
                           ("reenrol", gov.auth.reissue_enrolment),
                           ("train", lambda a, u: gov.auth.record_training(a, u, "course"))):
            with pytest.raises(NotFound) as exc:
                call(other_admin, username)
            answers.setdefault(name, []).append(str(exc.value).replace(repr(username), "<user>"))
            last = gov.store.access_records()[-1]
            assert (last.username, last.agency, last.outcome) == ("chief.pspd", "PSPD", "denied")
            assert last.data_elements == {"user": username}
    assert all(a == b == "no user <user> for agency PSPD" for a, b in answers.values()), answers
    assert gov.store.get_user("ofc.home").status == "active"
