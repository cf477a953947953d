"""Searches of the recipient inside an approved sharing grant (461.7, 1798.90.55(b)): eligibility is
checked again at each search, and what a search returns of the owner's reads is a recorded delivery."""

import time

import pytest

from alpr.governance.errors import PolicyViolation
from alpr.governance.models import SharingScope
from alpr.governance.roles import PLATFORM_AGENCY
from alpr.governance.search import SearchCriteria

from governance_helpers import HOME, Clock, add_user, bootstrap, make_gov, seed_reads

RECIPIENT = "RSO"  # Riverside County Sheriff: on the curated list of California public agencies


@pytest.fixture
def env():
    gov = make_gov(Clock())
    admin, _ = bootstrap(gov)
    des, _ = add_user(gov, admin, "sgt.d", "designee")
    cust, _ = add_user(gov, admin, "rec.c", "custodian")
    platform, _ = bootstrap(gov, PLATFORM_AGENCY, "platform.ops")
    gov.registry.register(platform, RECIPIENT)
    r_admin, _ = bootstrap(gov, RECIPIENT)
    r_op, _ = add_user(gov, r_admin, "rso.op", "operator")
    seed_reads(gov)
    now = time.time()
    req = gov.sharing.create_request(cust, requesting_agency=RECIPIENT, requester_name="Det. Jane Roe",
                                     purpose_code="STOLEN-VEHICLE", case_number="RSO-24-1",
                                     purpose_text="stolen vehicle seen in Desert Hot Springs",
                                     scope=SharingScope("7ABC123,7ABC124", None, now - 86_400, now))
    gov.sharing.review(des, req.request_id, approve=True, days=10)
    return gov, platform, r_op, req


def _search(gov, user):
    return gov.search.search(user, SearchCriteria(plate_pattern="7ABC*"), "STOLEN-VEHICLE", "RSO-24-1")


def _records(gov, action):
    return [r for r in gov.store.access_records() if r.action == action]


def test_a_search_inside_a_grant_records_a_delivery_logged_on_both_sides(env):
    gov, _, r_op, req = env
    got = _search(gov, r_op)
    assert sorted(r.read_id for r in got) == ["r1", "r2"] and {r.agency for r in got} == {HOME}
    [d] = gov.store.list_deliveries(RECIPIENT)
    assert (d.kind, d.request_id, d.owner_agency, d.recipient_agency, d.received_by) == (
        "search", req.request_id, HOME, RECIPIENT, r_op.username)
    assert sorted(d.read_ids) == ["r1", "r2"] and d.count == 2 and d.delivered_by == "sgt.d"
    owner_side, recipient_side = _records(gov, "shared_search")[-1], _records(gov, "share_received")[-1]
    assert owner_side.agency == HOME and owner_side.username == f"{RECIPIENT}:{r_op.username}"
    assert recipient_side.agency == RECIPIENT and recipient_side.username == r_op.username
    for rec in (owner_side, recipient_side):
        assert rec.data_elements["delivery_id"] == d.delivery_id and rec.data_elements["request_id"] == req.request_id
        assert rec.case_number == "RSO-24-1" and rec.purpose_code == "STOLEN-VEHICLE"
    search = _records(gov, "search_reads")[-1]
    assert search.data_elements["deliveries"] == [d.delivery_id] and search.data_elements["shared_from"] == [HOME]
    # a search that returns nothing of the owner's reads delivers nothing
    gov.search.search(r_op, SearchCriteria(plate_pattern="8XYZ*"), "STOLEN-VEHICLE", "RSO-24-1")
    assert len(gov.store.list_deliveries(RECIPIENT)) == 1


def test_a_recipient_suspended_after_approval_gets_nothing_from_its_grant(env):
    gov, platform, r_op, req = env
    gov.registry.set_active(platform, RECIPIENT, False, "suspended after approval")
    assert _search(gov, r_op) == []
    assert gov.store.list_deliveries() == []
    refused = [r for r in _records(gov, "shared_search") if r.outcome == "denied"]
    assert {r.agency for r in refused} == {HOME, RECIPIENT}, "the refusal is logged on both sides"
    assert all(r.data_elements["request_id"] == req.request_id and "not registered" in r.detail for r in refused)
    with pytest.raises(PolicyViolation):  # the same rule as at fulfilment
        gov.sharing.fulfil(gov.store.get_user("rec.c"), req.request_id)
    gov.registry.set_active(platform, RECIPIENT, True)
    assert sorted(r.read_id for r in _search(gov, r_op)) == ["r1", "r2"]

