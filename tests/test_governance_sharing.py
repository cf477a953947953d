"""Sharing (461.7, Civ. Code 1798.90.55(b), AG Bulletin 2023-DLE-06)."""

import json
import time

import pytest

from alpr.governance.errors import Conflict, PermissionDenied, PolicyViolation, ValidationError
from alpr.governance.models import Agency, SharingScope
from alpr.governance.sharing import eligibility

from governance_helpers import Clock, add_user, bootstrap, make_gov, seed_reads

AGENCIES = [
    Agency("RSO", "Riverside County Sheriff", "local", "CA", True, False),
    Agency("RCDA", "Riverside County District Attorney", "local", "CA", False, True),
    Agency("FBI", "Federal Bureau of Investigation", "federal", "US", True, False),
    Agency("HPD", "Honolulu Police Department", "local", "HI", True, False),
    Agency("TOW", "Acme Towing", "private", "CA", False, False),
    Agency("DMV", "California DMV", "state", "CA", False, False),
]


@pytest.fixture
def env():
    clock = Clock()
    gov = make_gov(clock)
    admin, _ = bootstrap(gov)
    des, _ = add_user(gov, admin, "sgt.d", "designee")
    cust, _ = add_user(gov, admin, "rec.c", "custodian")
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    for a in AGENCIES:
        gov.sharing.register_agency(admin, a)
    seed_reads(gov)
    return gov, clock, admin, des, cust, op


def _scope():
    now = time.time()
    return SharingScope(plate_pattern="7ABC*", start_ts=now - 86_400, end_ts=now)


def _request(gov, user, agency="RSO", **kw):
    args = dict(requesting_agency=agency, requester_name="Det. Jane Roe", purpose_code="STOLEN-VEHICLE",
                case_number="RSO-24-1", purpose_text="stolen vehicle seen in Desert Hot Springs", scope=_scope())
    args.update(kw)
    return gov.sharing.create_request(user, **args)


@pytest.mark.parametrize("agency,ok", [("RSO", True), ("RCDA", True), ("FBI", False), ("HPD", False),
                                       ("TOW", False), ("DMV", False)])
def test_only_california_public_le_or_prosecutorial_agencies(env, agency, ok):
    gov, _, _, _, cust, _ = env
    if ok:
        assert _request(gov, cust, agency).status == "pending"
    else:
        with pytest.raises(PolicyViolation):
            _request(gov, cust, agency)


def test_out_of_state_allowed_only_when_configured():
    hpd = AGENCIES[3]
    assert not eligibility(hpd, california_only=True)[0]
    assert eligibility(hpd, california_only=False)[0]
    assert not eligibility(AGENCIES[4], california_only=False)[0]


def test_request_requires_name_purpose_and_bounded_scope(env):
    gov, _, _, _, cust, _ = env
    with pytest.raises(ValidationError):
        _request(gov, cust, requester_name="")
    with pytest.raises(ValidationError):
        _request(gov, cust, purpose_text="")
    with pytest.raises(ValidationError):
        _request(gov, cust, scope=SharingScope(plate_pattern="7ABC*"))
    with pytest.raises(ValidationError):
        _request(gov, cust, purpose_code=None)


def test_review_by_deputy_chief_or_designee_only(env):
    gov, _, admin, des, cust, op = env
    req = _request(gov, cust)
    with pytest.raises(PermissionDenied):
        gov.sharing.review(cust, req.request_id, approve=True)
    with pytest.raises(PermissionDenied):
        gov.sharing.review(op, req.request_id, approve=True)
    with pytest.raises(Conflict):
        gov.sharing.fulfil(cust, req.request_id)  # not approved yet
    approved = gov.sharing.review(des, req.request_id, approve=True, days=30)
    assert approved.status == "approved" and approved.reviewed_by == "sgt.d"
    assert gov.store.get_sharing(req.request_id).requester_name == "Det. Jane Roe"  # retained on file


def test_fulfil_exports_exactly_the_scope_and_expires(env, tmp_path):
    gov, clock, admin, des, cust, op = env
    req = _request(gov, cust)
    gov.sharing.review(des, req.request_id, approve=True, days=10)
    rows = gov.sharing.fulfil(cust, req.request_id, tmp_path / "share.json")
    assert sorted(r["read_id"] for r in rows) == ["r1", "r2"]  # 7ABC* of DHSPD only, not 8XYZ999
    assert json.loads((tmp_path / "share.json").read_text())["request"]["request_id"] == req.request_id
    rec = gov.store.access_records()[-1]
    assert rec.action == "share_fulfil" and rec.data_elements["result_count"] == 2
    assert rec.purpose_code == "SHARE-FULFIL" and rec.case_number == "RSO-24-1"
    clock.advance(11 * 86_400)
    with pytest.raises(Conflict, match="expired"):
        gov.sharing.fulfil(cust, req.request_id)
    assert gov.store.get_sharing(req.request_id).status == "expired"


def test_approval_length_capped(env):
    gov, _, admin, des, cust, _ = env
    req = _request(gov, cust)
    with pytest.raises(ValidationError):
        gov.sharing.review(des, req.request_id, approve=True, days=365)


def test_maintenance_expires_approvals_and_runs_jobs(env):
    gov, clock, admin, des, cust, _ = env
    req = _request(gov, cust)
    gov.sharing.review(des, req.request_id, approve=True, days=5)
    clock.advance(6 * 86_400)
    result = gov.run_maintenance()
    assert result["shares_expired"] == [req.request_id]
    assert gov.store.get_sharing(req.request_id).status == "expired"
    assert result["audit_sample"] is not None
    assert gov.sharing.active_grants_for(OTHER_AGENCY) == []


OTHER_AGENCY = "RSO"
