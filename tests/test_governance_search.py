"""Purpose-bound search (461.3(a)(b), 461.5(b)) with wildcards, time, camera and agency scope."""

import time

import pytest

from alpr.governance.errors import PermissionDenied, ValidationError
from alpr.governance.models import SharingScope
from alpr.governance.search import SearchCriteria

from governance_helpers import OTHER, add_user, bootstrap, make_gov, seed_reads


@pytest.fixture
def env():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    seed_reads(gov)
    return gov, admin, op


def _plates(res):
    return sorted(r.read_id for r in res)


def test_purpose_code_and_case_number_are_mandatory(env):
    gov, _, op = env
    crit = SearchCriteria(plate_pattern="7ABC123")
    with pytest.raises(ValidationError, match="purpose code"):
        gov.search.search(op, crit, None, "C-24-1", note="looking around")
    with pytest.raises(ValidationError, match="unknown purpose"):
        gov.search.search(op, crit, "CURIOSITY", "C-24-1")
    with pytest.raises(ValidationError, match="case"):
        gov.search.search(op, crit, "STOLEN-VEHICLE", "")
    assert _plates(gov.search.search(op, crit, "STOLEN-VEHICLE", "C-24-1")) == ["r1"]


def test_wildcards_time_and_camera(env):
    gov, _, op = env
    s = lambda **kw: _plates(gov.search.search(op, SearchCriteria(**kw), "STOLEN-VEHICLE", "C-24-1"))
    assert s(plate_pattern="7ABC*") == ["r1", "r2"]
    assert s(plate_pattern="7ABC12?") == ["r1", "r2"]
    assert s(plate_pattern="?XYZ*") == ["r3"]
    assert s(camera_id="cam-2") == ["r2"]
    now = time.time()
    assert s(start_ts=now - 4000, end_ts=now) == ["r2", "r3"]


def test_results_limited_to_own_agency(env):
    gov, _, op = env
    res = gov.search.search(op, SearchCriteria(plate_pattern="*"), "STOLEN-VEHICLE", "C-24-1")
    assert {r.agency for r in res} == {"DHSPD"}


def test_auditor_cannot_search(env):
    gov, admin, _ = env
    aud, _ = add_user(gov, admin, "aud.a", "auditor")
    with pytest.raises(PermissionDenied):
        gov.search.search(aud, SearchCriteria(plate_pattern="7ABC*"), "STOLEN-VEHICLE", "C-24-1")


def test_approved_share_extends_scope_only_within_grant(env):
    gov, admin, op = env
    # PSPD owns r4 (7ABC123) and r5 (5QRS777); it grants DHSPD access to plate 7ABC123 only
    p_admin, _ = bootstrap(gov, OTHER)
    p_des, _ = add_user(gov, p_admin, "p.des", "designee")
    now = time.time()
    req = gov.sharing.create_request(p_admin, requesting_agency="DHSPD", requester_name="Det. Smith",
                                     purpose_code="STOLEN-VEHICLE", case_number="C-24-9", purpose_text="stolen car",
                                     scope=SharingScope(plate_pattern="7ABC123", start_ts=now - 86_400, end_ts=now))
    crit = SearchCriteria(plate_pattern="*")
    assert {r.agency for r in gov.search.search(op, crit, "STOLEN-VEHICLE", "C-24-9")} == {"DHSPD"}
    gov.sharing.review(p_des, req.request_id, approve=True)
    res = gov.search.search(op, crit, "STOLEN-VEHICLE", "C-24-9")
    assert "r4" in _plates(res) and "r5" not in _plates(res)
    rec = gov.store.access_records()[-1]
    assert rec.data_elements["shared_from"] == [OTHER] and rec.agency == "DHSPD"
    # logged on the owner's side too, with the recipient's user and purpose
    owner_side = [r for r in gov.store.access_records() if r.action == "shared_search"][-1]
    assert owner_side.agency == OTHER and owner_side.username == "DHSPD:" + op.username
    assert owner_side.data_elements["request_id"] == req.request_id and owner_side.case_number == "C-24-9"


def test_bad_pattern_refused(env):
    gov, _, op = env
    with pytest.raises(ValidationError):
        gov.search.search(op, SearchCriteria(plate_pattern="--"), "STOLEN-VEHICLE", "C-24-1")
    with pytest.raises(ValidationError):
        gov.search.search(op, SearchCriteria(), "STOLEN-VEHICLE", "C-24-1")
