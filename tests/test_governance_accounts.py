"""Accounts under review findings: a TOTP code is spent atomically (concurrent logins with one
code: exactly one wins), and the supervisor who created an account may not approve it."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from alpr.app.cli import main
from alpr.governance.auth import totp_now
from alpr.governance.errors import AuthenticationError, PermissionDenied

from governance_helpers import HOME, PASSWORD, Clock, add_user, bootstrap, make_gov, second_supervisor

LOGINS = 4


def _race_logins(gov, username: str, code: str) -> list:
    """``LOGINS`` threads log in with the same code; every thread reads the account before any of
    them writes (a barrier in ``get_user``): the window a read-then-write check leaves open."""
    barrier, real_get = threading.Barrier(LOGINS), gov.store.get_user

    def get_user(name):
        user = real_get(name)
        if threading.current_thread().name.startswith("login-"):
            barrier.wait(timeout=20)
        return user

    gov.store.get_user = get_user
    results: list = [None] * LOGINS

    def run(i: int) -> None:
        try:
            results[i] = gov.auth.login(username, PASSWORD, code)
        except AuthenticationError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"login-{i}") for i in range(LOGINS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    gov.store.get_user = real_get
    return results


def test_concurrent_logins_with_one_totp_code_accept_exactly_one():
    clock = Clock()
    gov = make_gov(clock)
    admin, secret = bootstrap(gov)
    clock.advance(30)  # a code of a step this account has not used
    results = _race_logins(gov, admin.username, totp_now(secret, clock()))
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, AuthenticationError)]
    assert len(won) == 1 and len(lost) == LOGINS - 1, results
    logins = [r for r in gov.store.access_records() if r.action == "login" and r.username == admin.username]
    assert [r.outcome for r in logins].count("allowed") == 1
    assert sum(1 for r in logins if r.outcome == "denied" and "reused" in r.detail) == LOGINS - 1


def test_a_write_from_a_stale_copy_of_the_account_does_not_unspend_a_code():
    """e.g. a concurrent request of the same user stores its last-activity time from a copy read
    before the login: the spent step must stay spent."""
    clock = Clock()
    gov = make_gov(clock)
    admin, secret = bootstrap(gov)
    clock.advance(30)
    code = totp_now(secret, clock())
    stale = gov.store.get_user(admin.username)
    gov.auth.login(admin.username, PASSWORD, code)
    gov.store.put_user(dataclasses.replace(stale, last_activity_ts=clock()))
    with pytest.raises(AuthenticationError):
        gov.auth.login(admin.username, PASSWORD, code)
    # a new MFA secret starts a new sequence of steps
    new = gov.auth.reset_mfa(gov.store.get_user(admin.username), PASSWORD, totp_now(secret, clock() + 30))
    clock.advance(60)
    assert gov.auth.login(admin.username, PASSWORD, totp_now(new, clock()))[0]


def test_the_creator_of_an_account_may_not_approve_it():
    gov = make_gov(Clock())
    admin, _ = bootstrap(gov)
    _, link = gov.auth.create_user(admin, "ofc.mine", HOME, "operator")
    gov.auth.enrol(link, PASSWORD)  # e.g. enrolled by whoever held the link: the creator
    with pytest.raises(PermissionDenied, match="two-person rule: chief.dhspd created ofc.mine"):
        gov.auth.approve_user(admin, "ofc.mine")
    assert gov.store.get_user("ofc.mine").status == "pending"
    refusal = gov.store.access_records()[-1]
    assert (refusal.action, refusal.outcome, refusal.username) == ("user_approve", "denied", admin.username)
    deputy = second_supervisor(gov, admin)
    assert deputy.role == "designee" and deputy.created_by == "bootstrap"
    assert gov.auth.approve_user(deputy, "ofc.mine").approved_by == deputy.username
    # the rule holds both ways: what the deputy creates, the administrator approves
    _, link = gov.auth.create_user(deputy, "ofc.theirs", HOME, "operator")
    gov.auth.enrol(link, PASSWORD)
    with pytest.raises(PermissionDenied, match="two-person rule"):
        gov.auth.approve_user(deputy, "ofc.theirs")
    assert gov.auth.approve_user(admin, "ofc.theirs").status == "active"


def test_a_suspended_account_is_reactivated_by_any_other_supervisor_once_first_approved():
    """The rule guards the first approval (while the creator's link may have been used); a later
    reactivation after refresher training is any supervisor's, its creator included."""
    clock = Clock()
    gov = make_gov(clock)
    admin, _ = bootstrap(gov)
    add_user(gov, admin, "ofc.back", "operator")
    gov.auth.suspend_user(admin, "ofc.back", "review")
    clock.advance(1)
    gov.auth.record_training(admin, "ofc.back", "refresher")
    assert gov.auth.approve_user(admin, "ofc.back").status == "active"


def test_only_a_second_supervisor_is_bootstrapped_and_the_cli_names_the_rule(tmp_path, monkeypatch, capsys):
    db = ["--gov-db", str(tmp_path / "gov.db"), "--read-store", f"sqlite:{tmp_path / 'reads.db'}"]
    for name, path in (("SECRETS_KEY_FILE", "secrets.key"), ("AUDIT_KEY_FILE", "audit.key")):
        monkeypatch.setenv(f"ALPR_GOV_{name}", str(tmp_path / path))
    monkeypatch.setenv("ALPR_ADMIN_PASSWORD", PASSWORD)
    boot = ["users", "bootstrap", "--agency", HOME, *db]
    assert main([*boot, "--username", "deputy", "--role", "designee"]) == 2  # no administrator yet
    assert "one active supervisor" in capsys.readouterr().err
    assert main([*boot, "--username", "chief"]) == 0
    assert main([*boot, "--username", "deputy", "--role", "designee"]) == 0
    assert "designee deputy (DHSPD) created" in capsys.readouterr().out
    assert main([*boot, "--username", "deputy2", "--role", "designee"]) == 2  # a third: `users create`
    assert main([*boot, "--username", "chief2"]) == 2
