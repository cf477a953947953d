"""Hotlist agreements (issue 12 items 1 and 4): an agency's entries alert on another agency's
cameras only through a recorded agreement that one agency proposed and the other approved;
every step is logged on both sides; revocation and expiry end it; a third agency sees nothing.
SQLite only: no services."""

from __future__ import annotations

import json
import time

import pytest

from alpr.governance.agreement_feed import engine_agreements, load_grants
from alpr.governance.errors import Conflict, NotFound, PermissionDenied, PolicyViolation, ValidationError
from alpr.governance.registry import curated
from alpr.pipelines.core.matching import HotlistSnapshot, MatchStage
from alpr.records import HotlistEntry

from alpr.pipelines.core.grouping import build_group

from core_helpers import read
from governance_helpers import HOME, OTHER, Clock, add_user, bootstrap, make_gov

A, B, C = HOME, OTHER, "CCPD"  # owner of the entries, partner (the cameras), a third agency
DAY = 86_400


def _govs(tmp_path, clock=None):
    gov = make_gov(clock or Clock(), db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"))
    gov.store.put_agency(curated(C))
    admins = {ag: bootstrap(gov, ag)[0] for ag in (A, B, C)}
    return gov, admins


def _propose(gov, user, owner=A, partner=B, days=30, **kw):
    now = gov.clock()
    kw.setdefault("document_ref", "MOU-2026-014")
    return gov.agreements.propose(user, owner_agency=owner, partner_agency=partner, start_ts=now - 60,
                                  expires_ts=now + days * DAY, **kw)


def _log(gov, agency):
    return [r for r in gov.store.access_records() if r.agency == agency and r.action.startswith("agreement_")]


def group_of(plate, agency, n=3):
    return build_group([read(plate, time.time() - 10 + i, 95.0, cam=f"cam-{agency}", agency=agency, seq=i)
                        for i in range(n)])


ENTRY = HotlistEntry("a-covert", "5HOM001", "STOLEN", agency=A, description="informant's car",
                     case_number="A-26-77", covert=True)


def test_a_proposes_b_approves_then_revokes_and_every_step_is_in_both_logs(tmp_path):
    gov, ad = _govs(tmp_path)
    stage = MatchStage(lambda: HotlistSnapshot.from_entries([ENTRY]),
                       agreements=engine_agreements(0, gov.settings.db_path))
    assert stage.alerts(group_of("5HOM001", B)) == []  # no agreement: A's entry stays on A's cameras
    assert len(stage.alerts(group_of("5HOM001", A))) == 1

    a = _propose(gov, ad[A], list_codes=["stolen"])
    assert (a.status, a.owner_agency, a.partner_agency, a.list_codes) == ("proposed", A, B, ("STOLEN",))
    assert stage.alerts(group_of("5HOM001", B)) == []  # proposed is not approved
    with pytest.raises(PermissionDenied):  # A cannot approve its own proposal
        gov.agreements.review(ad[A], a.agreement_id, True)
    with pytest.raises(NotFound):          # a third agency: exactly like a missing agreement
        gov.agreements.review(ad[C], a.agreement_id, True)
    with pytest.raises(NotFound):
        gov.agreements.get(ad[C], a.agreement_id)
    with pytest.raises(NotFound):
        gov.agreements.revoke(ad[C], a.agreement_id)
    assert gov.agreements.list(ad[C]) == []
    approved = gov.agreements.review(ad[B], a.agreement_id, True, "signed by both chiefs")
    assert (approved.status, approved.reviewed_agency) == ("approved", B)

    (alert,) = stage.alerts(group_of("5HOM001", B))  # B's camera now alerts on A's entry ...
    assert (alert.agency, alert.entry_agency, alert.entry_plate) == (B, A, "5HOM001")
    assert (alert.description, alert.case_number) == ("", "")  # ... without A's description / case
    other_list = HotlistEntry("a-gang", "5HOM002", "GANG", agency=A, description="x", case_number="A-26-78")
    only = MatchStage(lambda: HotlistSnapshot.from_entries([other_list]), agreements=stage.agreements)
    assert only.alerts(group_of("5HOM002", B)) == []  # the agreement names STOLEN only
    assert only.alerts(group_of("5HOM002", C)) == []  # nor does it reach a third agency's cameras

    with pytest.raises(Conflict):
        gov.agreements.review(ad[B], a.agreement_id, True)
    gov.agreements.revoke(ad[B], a.agreement_id, "ended")
    assert stage.alerts(group_of("5HOM001", B)) == []  # revoked: next refresh (refresh_s=0 here)

    for agency in (A, B):  # every step on both sides, with who, which agency, why and what
        steps = [(r.action, r.outcome) for r in _log(gov, agency) if r.outcome == "allowed"]
        assert steps == [("agreement_propose", "allowed"), ("agreement_review", "allowed"),
                         ("agreement_revoke", "allowed")], agency
        for r in _log(gov, agency):
            assert r.username and r.data_elements.get("agreement_id") == a.agreement_id
            assert r.purpose_code == "AGREEMENT" or r.outcome == "denied"
    counterpart = [r for r in _log(gov, B) if r.action == "agreement_propose"][0]
    assert counterpart.username == f"{A}:{ad[A].username}" and counterpart.data_elements["acting_agency"] == A
    # the refused attempts are logged for the agency that tried
    denied = [(r.agency, r.action) for r in gov.store.access_records() if r.outcome == "denied"]
    assert (A, "agreement_review") in denied and (C, "agreement_review") in denied
    assert (C, "agreement_view") in denied and (C, "agreement_revoke") in denied
    assert not [r for r in gov.store.access_records() if r.agency == C and r.outcome == "allowed"
                and r.data_elements.get("agreement_id") == a.agreement_id]
    assert gov.verify_chain().ok


def test_b_cannot_approve_its_own_proposal_and_c_cannot_propose_for_others(tmp_path):
    gov, ad = _govs(tmp_path)
    mine = _propose(gov, ad[B])  # B proposes that A's entries alert on B's cameras
    assert mine.proposed_agency == B
    with pytest.raises(PermissionDenied):
        gov.agreements.review(ad[B], mine.agreement_id, True)
    assert gov.agreements.review(ad[A], mine.agreement_id, True).status == "approved"  # A consents
    with pytest.raises(PermissionDenied):  # C is no party: it cannot bind A and B
        _propose(gov, ad[C])
    with pytest.raises(ValidationError):
        _propose(gov, ad[A], owner=A, partner=A)
    operator, _ = add_user(gov, ad[A], "a.operator", "operator")
    with pytest.raises(PermissionDenied):  # administrators and designees only
        _propose(gov, operator)


def test_partner_must_be_a_registered_california_public_agency_and_the_window_bounded(tmp_path):
    gov, ad = _govs(tmp_path)
    with pytest.raises(PolicyViolation):
        _propose(gov, ad[A], partner="FBI")           # not on the curated list
    with pytest.raises(PolicyViolation):
        _propose(gov, ad[A], partner="LAPD")          # curated but not registered on the platform
    with pytest.raises(ValidationError):
        _propose(gov, ad[A], days=400)                # longer than agreement_max_days (365)
    with pytest.raises(ValidationError):
        _propose(gov, ad[A], document_ref="")         # no written agreement
    now = gov.clock()
    with pytest.raises(ValidationError):
        gov.agreements.propose(ad[A], owner_agency=A, partner_agency=B, document_ref="MOU-1",
                               start_ts=now - 10 * DAY, expires_ts=now - DAY)
    # eligibility again at approval: the partner suspended on the platform in between
    a = _propose(gov, ad[A])
    from dataclasses import replace
    gov.store.put_agency(replace(gov.store.get_agency(B), active=False))
    with pytest.raises(PolicyViolation):
        gov.agreements.review(ad[B], a.agreement_id, True)
    assert gov.store.get_agreement(a.agreement_id).status == "proposed"


def test_expiry_ends_an_agreement_in_the_engines_and_in_the_store(tmp_path):
    clock = Clock()
    gov, ad = _govs(tmp_path, clock)
    a = _propose(gov, ad[A], days=2)
    gov.agreements.review(ad[B], a.agreement_id, True)
    feed = engine_agreements(0, gov.settings.db_path, clock=clock)
    stage = MatchStage(lambda: HotlistSnapshot.from_entries([ENTRY]), agreements=feed)
    assert len(stage.alerts(group_of("5HOM001", B), now=clock())) == 1
    clock.advance(3 * DAY)
    assert stage.alerts(group_of("5HOM001", B), now=clock()) == []  # past expiry, before maintenance
    assert load_grants(gov.settings.db_path, clock()) == []
    assert gov.run_maintenance()["agreements_expired"] == [a.agreement_id]
    assert gov.store.get_agreement(a.agreement_id).status == "expired"
    assert {r.agency for r in gov.store.access_records() if r.action == "agreement_expire"} == {A, B}


def test_cli_propose_approve_revoke(tmp_path, monkeypatch):
    from cli_accounts import CliAccounts
    from test_governance_cli_tenancy import _alpr

    acc = CliAccounts(tmp_path, monkeypatch)
    acc.admin(A), acc.admin(B)
    common = ["--gov-db", acc.db, "--read-store", f"sqlite:{tmp_path / 'r.db'}"]
    now = time.time()
    rc, out, err = _alpr("agreements", "propose", "--owner", A, "--partner", B, "--document", "MOU-7",
                         "--start", str(now - 60), "--expires", str(now + 10 * DAY), "--list-code", "STOLEN",
                         *common, *acc.login(A, "administrator"))
    assert rc == 0, err
    agreement_id = json.loads(out)["agreement_id"]
    assert load_grants(acc.db) == []
    rc, out, err = _alpr("agreements", "approve", "--id", agreement_id, *common, *acc.login(A, "designee"))
    assert rc == 2 and "never the agency that proposed it" in err
    rc, out, err = _alpr("agreements", "approve", "--id", agreement_id, *common, *acc.login(B, "designee"))
    assert rc == 0 and json.loads(out)["status"] == "approved", err
    (grant,) = load_grants(acc.db)
    assert (grant.agreement_id, grant.owner, grant.partner, grant.list_codes) == (agreement_id, A, B,
                                                                                  frozenset({"STOLEN"}))
    rc, out, err = _alpr("agreements", "list", *common, *acc.login(A, "administrator"))
    assert rc == 0 and [json.loads(line)["agreement_id"] for line in out.splitlines()] == [agreement_id]
    rc, out, err = _alpr("agreements", "revoke", "--id", agreement_id, "--reason", "ended", *common,
                         *acc.login(B, "administrator"))
    assert rc == 0 and json.loads(out)["status"] == "revoked", err
    assert load_grants(acc.db) == []
    for agency in (A, B):  # both sides, CLI channel
        cli = {r.action for r in _log(acc.gov, agency) if r.outcome == "allowed" and r.channel == "cli"}
        assert {"agreement_propose", "agreement_review", "agreement_revoke"} <= cli, agency
