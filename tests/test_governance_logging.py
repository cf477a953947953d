"""Every access and every refusal is in the access log with the Civ. Code 1798.90.52 fields (issue 12
item 7): who (username), which organisation (agency), when (ts), what was queried (data elements) and
why (purpose code, case number). Replayed through the HTTP API, as a user of the agency would."""

from __future__ import annotations

import sqlite3
import time
import warnings

import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)
from fastapi.testclient import TestClient  # noqa: E402

from alpr.governance.api import create_app  # noqa: E402
from alpr.governance.errors import Conflict, PermissionDenied, ValidationError  # noqa: E402
from alpr.governance.models import SharingScope  # noqa: E402
from alpr.governance.search import SearchCriteria  # noqa: E402

from governance_helpers import (HOME, OTHER, Clock, add_user, bootstrap, login, make_gov,  # noqa: E402
                                seed_alerts, seed_reads)

DAY = 86_400


class Api:
    def __init__(self):
        self.clock = Clock()
        self.gov = gov = make_gov(self.clock)
        self.admin, _ = bootstrap(gov)
        self.secrets = {}
        for name, role in (("ofc.a", "operator"), ("sgt.d", "designee"), ("rec.c", "custodian"),
                           ("aud.a", "auditor")):
            _, self.secrets[name] = add_user(gov, self.admin, name, role)
        seed_reads(gov)
        seed_alerts(gov)
        self.client = TestClient(create_app(governance=gov))

    def user(self, name):
        return self.gov.store.get_user(name)

    def headers(self, name: str) -> dict:
        return {"Authorization": f"Bearer {login(self.gov, name, self.secrets[name])}"}

    def last(self, action: str, username: str):
        rows = [r for r in self.gov.store.access_records() if r.action == action and r.username == username]
        assert rows, f"no {action} record of {username}"
        return rows[-1]


@pytest.fixture
def api():
    return Api()


def _has_1798_90_52_fields(rec, username: str, agency: str, now: float) -> None:
    assert (rec.username, rec.agency) == (username, agency)
    assert abs(rec.ts - now) < 120
    assert rec.data_elements and rec.purpose_code


def test_viewing_an_alerts_history_is_logged_with_the_1798_90_52_fields(api):
    r = api.client.get("/api/alerts/a1/history", headers=api.headers("ofc.a"))
    assert r.status_code == 200
    rec = api.last("alert_history", "ofc.a")
    _has_1798_90_52_fields(rec, "ofc.a", HOME, api.clock())
    assert rec.data_elements["alert_id"] == "a1" and rec.data_elements["events"] == 0
    assert (rec.purpose_code, rec.case_number, rec.outcome) == ("HOTLIST-HIT", "C-2024-001", "allowed")


def test_listing_sharing_requests_and_deliveries_is_logged_with_the_1798_90_52_fields(api):
    gov, now = api.gov, time.time()
    req = gov.sharing.create_request(api.user("rec.c"), requesting_agency=OTHER, requester_name="Det. Roe",
                                     purpose_code="STOLEN-VEHICLE", case_number="C-24-801", purpose_text="stolen car",
                                     scope=SharingScope("7ABC123", None, now - DAY, now))
    gov.sharing.review(api.user("sgt.d"), req.request_id, True, "ok", 7)
    gov.sharing.fulfil(api.user("rec.c"), req.request_id)
    h = api.headers("rec.c")
    assert [x["request_id"] for x in api.client.get("/api/sharing/requests", headers=h).json()] == [req.request_id]
    listed = api.last("share_list", "rec.c")
    _has_1798_90_52_fields(listed, "rec.c", HOME, api.clock())
    assert listed.data_elements == {"sharing_of": HOME, "count": 1}
    assert len(api.client.get("/api/sharing/deliveries", headers=h).json()) == 1
    delivered = api.last("share_deliveries", "rec.c")
    _has_1798_90_52_fields(delivered, "rec.c", HOME, api.clock())
    assert delivered.data_elements == {"count": 1} and delivered.outcome == "allowed"


class _FailingWrites:
    """The hotlist store as it is, except that writes fail (a locked or unreachable database)."""

    def __init__(self, inner):
        self.inner = inner

    def upsert_entries(self, entries):
        raise sqlite3.OperationalError("database is locked")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _add(api, h, case="C-24-802"):
    return api.client.post("/api/hotlist", headers=h, json={
        "plate": "6FLT402", "list_code": "LOCAL", "case_number": case, "purpose_code": "STOLEN-VEHICLE",
        "expires_at": time.time() + DAY, "description": "grey van"})


def test_a_hotlist_add_whose_store_write_fails_is_logged_as_an_error_and_answered_with_a_clean_4xx(api):
    gov, h = api.gov, api.headers("ofc.a")
    gov.hotlists.hotlists = _FailingWrites(gov.hotlists.hotlists)
    r = _add(api, h)
    assert r.status_code == 409, r.text  # never a 5xx
    assert r.json()["error"] == "StoreFailure" and "could not be saved" in r.json()["detail"]
    assert "OperationalError" not in r.text and "Traceback" not in r.text
    rec = api.last("hotlist_add", "ofc.a")
    _has_1798_90_52_fields(rec, "ofc.a", HOME, api.clock())
    assert (rec.outcome, rec.purpose_code, rec.case_number) == ("error", "STOLEN-VEHICLE", "C-24-802")
    assert rec.data_elements["plate"] == "6FLT402" and "store failed" in rec.detail
    assert gov.hotlists.list_entries(api.user("ofc.a")) == []
    assert not gov.store.connection.execute("SELECT * FROM cases WHERE case_number = 'C-24-802'").fetchall()


def test_a_hotlist_add_is_logged_before_its_case_is_noted_and_a_failing_look_back_is_a_clean_4xx(api):
    gov, h = api.gov, api.headers("ofc.a")

    def fail_case(*a, **k):
        raise sqlite3.OperationalError("database is locked")

    gov.store.register_case = fail_case  # noting the case number fails after the entry was saved and logged
    r = _add(api, h)
    assert r.status_code == 201, r.text
    assert api.last("hotlist_add", "ofc.a").outcome == "allowed"

    def fail_retro(entry, reads):
        raise RuntimeError("read store unreachable")

    gov.hotlists.retro_search = fail_retro
    r = _add(api, h, case="C-24-803")
    assert r.status_code == 409 and "was added (and logged)" in r.json()["detail"], r.text
    assert api.last("hotlist_add", "ofc.a").case_number == "C-24-803"
    look = api.last("hotlist_lookback", "ofc.a")
    assert (look.outcome, look.case_number) == ("error", "C-24-803")


def _denied(gov, action: str, username: str) -> int:
    return sum(1 for r in gov.store.access_records()
               if r.action == action and r.username == username and r.outcome == "denied")


def test_refusals_inside_services_are_logged(api):
    gov, now = api.gov, time.time()
    cust, des, op, aud = api.user("rec.c"), api.user("sgt.d"), api.user("ofc.a"), api.user("aud.a")
    # sharing review: self-approval, a bad approval length, a request no longer pending
    req = gov.sharing.create_request(des, requesting_agency=OTHER, requester_name="Det. Roe",
                                     purpose_code="STOLEN-VEHICLE", case_number="C-24-804", purpose_text="x",
                                     scope=SharingScope("7ABC123", None, now - DAY, now))
    for who, kw, exc in ((des, {}, PermissionDenied), (api.admin, {"days": 999}, ValidationError)):
        with pytest.raises(exc):
            gov.sharing.review(who, req.request_id, True, "", **kw)
    gov.sharing.review(api.admin, req.request_id, False, "no")
    with pytest.raises(Conflict):
        gov.sharing.review(api.admin, req.request_id, True, "")
    with pytest.raises(PermissionDenied):  # a role that may not review: refused (and logged) by the guard
        gov.sharing.review(cust, req.request_id, True, "")
    assert _denied(gov, "approve_share", "rec.c") == 1 and _denied(gov, "share_review", "sgt.d") == 1
    assert _denied(gov, "share_review", api.admin.username) == 2
    # audit findings and sign-off
    gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", "C-24-805")
    sample = gov.audits.create_sample(aud, now - 3600, api.clock() + 60, size=1, seed=1)
    for seq, result, note in ((99_999, "ok", ""), (sample.sample_seqs[0], "maybe", ""),
                              (sample.sample_seqs[0], "concern", "")):
        with pytest.raises(ValidationError):
            gov.audits.record_finding(aud, sample.audit_id, seq, result, note)
    with pytest.raises(Conflict):
        gov.audits.sign_off(aud, sample.audit_id, "too early")
    assert _denied(gov, "audit_finding", "aud.a") == 3 and _denied(gov, "audit_sign", "aud.a") == 1
    # alert verification and rejection with bad input
    gov.alerts.acknowledge(op, "a1", "INC-24-9")
    with pytest.raises(ValidationError):
        gov.alerts.verify(op, "a1", "TELEPATHY", "R-1", True, True)
    with pytest.raises(ValidationError):
        gov.alerts.verify(op, "a1", "CLETS", " ", True, True)
    with pytest.raises(ValidationError):
        gov.alerts.reject(op, "a1", "")
    assert _denied(gov, "alert_verified", "ofc.a") == 2 and _denied(gov, "alert_rejected", "ofc.a") == 1
    rec = api.last("alert_verified", "ofc.a")
    assert (rec.agency, rec.data_elements, rec.purpose_code, rec.case_number) == (
        HOME, {"alert_id": "a1"}, "HOTLIST-HIT", "INC-24-9")
    # account creation with bad input
    for username, role in (("bad name!", "operator"), ("ofc.new", "sheriff"), ("ofc.a", "operator")):
        with pytest.raises(ValidationError):
            gov.auth.create_user(api.admin, username, HOME, role)
    assert _denied(gov, "user_create", api.admin.username) == 3
    assert gov.verify_chain().ok
