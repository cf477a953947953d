"""Requests refused before a service runs are access attempts too (Civ. Code 1798.90.52): a 422 of
FastAPI's validation, a 413 of the body limit and a 409 raised without a record are logged, by one
middleware, with the 1798.90.52 fields; never a plate in the application log."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi.testclient import TestClient

from alpr.governance.api import create_app
from alpr.governance.auth import totp_now
from alpr.governance.models import SharingScope
from alpr.governance.roles import PLATFORM_AGENCY

from governance_helpers import HOME, PASSWORD, Clock, add_user, bootstrap, make_gov, seed_reads

PLATE = "4QZX917"  # appears in no seeded read: any trace of it comes from the refused requests
PURPOSE = {"purpose_code": "STOLEN-VEHICLE", "case_number": "C-24-321"}


@pytest.fixture
def env():
    clock = Clock()
    gov = make_gov(clock)
    admin, _ = bootstrap(gov)
    op, op_secret = add_user(gov, admin, "ofc.t", "operator")
    cust, cust_secret = add_user(gov, admin, "rec.t", "custodian")
    platform, _ = bootstrap(gov, PLATFORM_AGENCY, "platform.ops")
    gov.registry.register(platform, "RSO")
    seed_reads(gov)
    client = TestClient(create_app(governance=gov))

    def headers(username, secret):
        clock.advance(30)
        r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD,
                                                 "totp": totp_now(secret, clock())})
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return gov, client, headers(op.username, op_secret), headers(cust.username, cust_secret), cust


def _after(gov, seq):
    return [r for r in gov.store.access_records() if r.seq > seq]


def _head(gov):
    return gov.store.access_head()[0]


def test_validation_errors_of_a_logged_in_caller_are_logged_with_the_1798_90_52_fields(env, caplog):
    gov, client, op, _, _ = env
    caplog.set_level(logging.DEBUG)
    before = _head(gov)
    r = client.post("/api/hotlist", headers=op, json={"plate": PLATE, "list_code": "HOME-HOT-1", "priority": 1e30,
                                                      **PURPOSE})
    assert r.status_code == 422
    r = client.post("/api/search", headers=op, json={"plate_pattern": PLATE, "limit": "x", **PURPOSE})
    assert r.status_code == 422
    hot, search = _after(gov, before)
    for rec in (hot, search):
        assert (rec.username, rec.agency, rec.outcome, rec.action) == ("ofc.t", HOME, "denied", "request_refused")
        assert (rec.purpose_code, rec.case_number) == ("STOLEN-VEHICLE", "C-24-321") and rec.ts > 0
        assert rec.channel == "api" and rec.data_elements["status"] == 422
        assert PLATE not in json.dumps(rec.data_elements) + rec.detail, "field names only, never the values"
    assert hot.data_elements["route"] == "POST /api/hotlist" and "priority" in hot.data_elements["body_fields"]
    assert "body.priority" in hot.detail
    assert search.data_elements["route"] == "POST /api/search" and "body.limit" in search.detail
    assert {"plate_pattern", "limit"} <= set(search.data_elements["body_fields"])
    assert PLATE not in caplog.text


def test_an_oversized_body_is_refused_with_413_and_logged(env, caplog):
    gov, client, op, _, _ = env
    caplog.set_level(logging.DEBUG)
    before = _head(gov)
    big = {"plate_pattern": PLATE * 10_000, **PURPOSE}
    r = client.post("/api/search", headers=op, json=big)
    assert r.status_code == 413
    [rec] = _after(gov, before)
    assert (rec.username, rec.outcome, rec.action) == ("ofc.t", "denied", "request_refused")
    assert rec.data_elements["route"] == "POST /api/search" and rec.data_elements["status"] == 413
    assert int(rec.data_elements["content_length"]) > 64 * 1024 and "too large" in rec.detail
    assert PLATE not in caplog.text


def test_fulfilling_a_request_that_is_not_approved_is_logged(env):
    gov, client, _, cust_h, cust = env
    now = time.time()
    req = gov.sharing.create_request(cust, requesting_agency="RSO", requester_name="Det. Roe", **PURPOSE,
                                     purpose_text="stolen car", scope=SharingScope("7ABC123", None, now - 3600, now))
    before = _head(gov)
    r = client.post(f"/api/sharing/requests/{req.request_id}/fulfil", headers=cust_h)
    assert r.status_code == 409
    [rec] = _after(gov, before)
    assert (rec.username, rec.agency, rec.outcome) == ("rec.t", HOME, "denied")
    assert rec.data_elements["route"] == "POST /api/sharing/requests/{request_id}/fulfil"
    assert rec.data_elements["path_params"] == {"request_id": req.request_id} and "pending" in rec.detail


def test_a_refusal_a_service_logged_is_not_logged_twice_and_anonymous_callers_are_the_logins(env):
    gov, client, op, _, _ = env
    before = _head(gov)
    r = client.post("/api/search", headers=op, json={"plate_pattern": "7ABC*", "purpose_code": "CURIOSITY",
                                                     "case_number": "C-1"})
    assert r.status_code == 422
    [rec] = _after(gov, before)
    assert rec.action == "search_reads" and rec.outcome == "denied"  # the guard's record only
    before = _head(gov)
    assert client.post("/api/search", json={"limit": "x"}).status_code in (401, 422)
    assert all(r.action != "request_refused" for r in _after(gov, before))
