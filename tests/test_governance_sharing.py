"""Sharing (461.7, Civ. Code 1798.90.55(b), AG Bulletin 2023-DLE-06)."""

import json
import time

import pytest

from alpr.governance.errors import Conflict, PermissionDenied, PolicyViolation, ValidationError
from alpr.governance.models import Agency, SharingScope
from alpr.governance.roles import PLATFORM_AGENCY
from alpr.governance.sharing import eligibility

from governance_helpers import OTHER, Clock, add_user, bootstrap, make_gov, seed_reads

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
    platform, _ = bootstrap(gov, PLATFORM_AGENCY, "platform.ops")
    for a in AGENCIES:
        try:
            gov.registry.register(platform, a.agency_id)
        except PolicyViolation:
            assert a.agency_id in ("FBI", "HPD", "TOW", "DMV")  # not on the curated California list
    seed_reads(gov)
    gov.platform = platform
    return gov, clock, admin, des, cust, op


def _scope():
    now = time.time()
    return SharingScope(plate_pattern="7ABC123,7ABC124", start_ts=now - 86_400, end_ts=now)


def _request(gov, user, agency="RSO", **kw):
    args = dict(requesting_agency=agency, requester_name="Det. Jane Roe", purpose_code="STOLEN-VEHICLE",
                case_number="RSO-24-1", purpose_text="stolen vehicle seen in Desert Hot Springs", scope=_scope())
    args.update(kw)
    return gov.sharing.create_request(user, **args)


@pytest.mark.parametrize("agency,ok", [("RSO", True), ("RCDA", True), ("FBI", False), ("HPD", False),
                                       ("TOW", False), ("DMV", False), ("DHSPD", False)])
def test_only_california_public_le_or_prosecutorial_agencies(env, agency, ok):
    gov, _, _, _, cust, _ = env
    if ok:
        assert _request(gov, cust, agency).status == "pending"
    else:
        with pytest.raises((PolicyViolation, ValidationError)):
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
        _request(gov, cust, scope=SharingScope(plate_pattern="7ABC123"))
    with pytest.raises(ValidationError):
        _request(gov, cust, purpose_code=None)


@pytest.mark.parametrize("scope,why", [
    (SharingScope(plate_pattern="*", start_ts=0.0, end_ts=4_000_000_000.0), "exact plates"),  # the tester's share
    (SharingScope(plate_pattern="7ABC*", start_ts=time.time() - 86_400, end_ts=time.time()), "exact plates"),
    (SharingScope(plate_pattern="7ABC123", start_ts=time.time() - 91 * 86_400, end_ts=time.time()), "at most 90"),
    (SharingScope(plate_pattern="7ABC123", start_ts=time.time() - 86_400, end_ts=time.time() + 30 * 86_400),
     "future"),
    (SharingScope(plate_pattern=",".join(f"1ABC{i:03d}" for i in range(26)), start_ts=time.time() - 86_400,
                  end_ts=time.time()), "at most 25"),
])
def test_scope_is_genuinely_bounded(env, scope, why):
    gov, _, _, _, cust, _ = env
    with pytest.raises(ValidationError, match=why):
        _request(gov, cust, scope=scope)
    assert gov.store.access_records()[-1].outcome == "denied"


def test_the_registry_is_platform_data_from_the_curated_list(env):
    gov, _, admin, _, _, _ = env
    # an agency administrator cannot register or relabel anyone, not even with every agency permission
    with pytest.raises(PermissionDenied):
        gov.registry.register(admin, "RSO")
    # the platform registers only curated agencies, with the curated attributes
    with pytest.raises(PolicyViolation, match="curated"):
        gov.registry.register(gov.platform, "FBI")
    assert gov.store.get_agency("FBI") is None
    rso = gov.store.get_agency("RSO")
    assert (rso.kind, rso.state, rso.law_enforcement) == ("local", "CA", True)
    # an agency edits only its own profile, and only name and contact
    mine = gov.registry.update_profile(admin, "DHSPD", contact="records@dhspd.example")
    assert mine.contact == "records@dhspd.example" and mine.kind == "local"
    other_admin, _ = bootstrap(gov, OTHER)
    with pytest.raises(PermissionDenied):
        gov.registry.update_profile(other_admin, "DHSPD", name="Relabelled")
    with pytest.raises(PermissionDenied):
        gov.registry.update_profile(other_admin, "RSO", name="Federal Task Force")
    assert gov.store.get_agency("DHSPD").name == "Desert Hot Springs Police Department"


def test_a_relabelled_record_cannot_launder_eligibility(env):
    """The tester's attack: someone with write access relabels a federal agency as 'local, CA'."""
    gov, _, _, _, cust, _ = env
    gov.store.put_agency(Agency("FBI", "Federal Bureau of Investigation", "local", "CA", True, False))
    with pytest.raises(PolicyViolation, match="curated"):
        _request(gov, cust, "FBI")


def test_eligibility_is_checked_again_at_approval_and_at_fulfilment(env):
    gov, _, _, des, cust, _ = env
    req = _request(gov, cust)
    gov.registry.set_active(gov.platform, "RSO", False, "agreement ended")
    with pytest.raises(PolicyViolation):
        gov.sharing.review(des, req.request_id, approve=True, days=10)
    gov.registry.set_active(gov.platform, "RSO", True)
    gov.sharing.review(des, req.request_id, approve=True, days=10)
    gov.registry.set_active(gov.platform, "RSO", False, "suspended after approval")
    with pytest.raises(PolicyViolation):
        gov.sharing.fulfil(cust, req.request_id)
    assert gov.store.list_deliveries() == []
    last = gov.store.access_records()[-1]
    assert last.action == "share_fulfil" and last.outcome == "denied"


def test_every_delivery_is_recorded_and_logged_on_both_sides(env, tmp_path):
    gov, _, _, des, cust, _ = env
    req = _request(gov, cust)
    gov.sharing.review(des, req.request_id, approve=True, days=10)
    rows = gov.sharing.fulfil(cust, req.request_id, tmp_path / "share.json")
    [d] = gov.store.list_deliveries("RSO")
    assert d.request_id == req.request_id and d.recipient_agency == "RSO" and d.owner_agency == "DHSPD"
    assert sorted(d.read_ids) == sorted(r["read_id"] for r in rows) and d.count == len(rows) == 2
    import hashlib
    assert d.payload_sha256 == hashlib.sha256((tmp_path / "share.json").read_bytes()).hexdigest()
    sent = [r for r in gov.store.access_records() if r.action == "share_fulfil" and r.outcome == "allowed"]
    got = [r for r in gov.store.access_records() if r.action == "share_received"]
    assert sent[-1].agency == "DHSPD" and got[-1].agency == "RSO"
    assert sent[-1].data_elements["delivery_id"] == got[-1].data_elements["delivery_id"] == d.delivery_id


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
    assert sorted(r["read_id"] for r in rows) == ["r1", "r2"]  # the named plates of DHSPD only
    assert json.loads((tmp_path / "share.json").read_text())["request"]["request_id"] == req.request_id
    rec = [r for r in gov.store.access_records() if r.action == "share_fulfil"][-1]
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
