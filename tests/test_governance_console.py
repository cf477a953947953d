"""Web console over HTTP (no browser): cookie session, CSRF token, purpose-bound search, role pages."""

import re

import pytest
from fastapi.testclient import TestClient

from alpr.governance.api import create_app
from alpr.governance.auth import totp_now

from governance_helpers import PASSWORD, add_user, bootstrap, make_gov, seed_alerts, seed_reads


@pytest.fixture
def env():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, secret = add_user(gov, admin, "ofc.c", "operator")
    aud, aud_secret = add_user(gov, admin, "aud.c", "auditor")
    seed_reads(gov)
    seed_alerts(gov)
    client = TestClient(create_app(governance=gov), base_url="http://testserver")
    return gov, client, {"ofc.c": secret, "aud.c": aud_secret}


def _login(client, gov, username, secret):
    r = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                             "totp": totp_now(secret, gov.clock())}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/console/search").text)


def test_pages_need_login(env):
    gov, client, _ = env
    for page in ("/console/search", "/console/alerts", "/console/audit", "/console/hotlists"):
        r = client.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_cookie_is_httponly_strict_and_csrf_enforced(env):
    gov, client, secrets = env
    r = client.post("/console/login", data={"username": "ofc.c", "password": PASSWORD,
                                             "totp": totp_now(secrets["ofc.c"], gov.clock())}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    form = {"plate_pattern": "7ABC*", "purpose_code": "STOLEN-VEHICLE", "case_number": "C-UI-1"}
    assert client.post("/console/search", data={**form, "csrf": "bad"}).status_code == 403
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/console/search").text).group(1)
    r = client.post("/console/search", data={**form, "csrf": csrf})
    assert r.status_code == 200 and "7ABC124" in r.text
    rec = gov.store.access_records()[-1]
    assert (rec.action, rec.channel, rec.case_number) == ("search_reads", "ui", "C-UI-1")


def test_search_without_purpose_shows_error(env):
    gov, client, secrets = env
    csrf = _login(client, gov, "ofc.c", secrets["ofc.c"]).group(1)
    r = client.post("/console/search", data={"plate_pattern": "7ABC*", "note": "hunch", "csrf": csrf})
    assert r.status_code == 422 and "purpose code is required" in r.text and "7ABC123" not in r.text


def test_auditor_sees_access_log_and_chain_but_cannot_search(env):
    gov, client, secrets = env
    csrf = _login(client, gov, "aud.c", secrets["aud.c"]).group(1)
    page = client.get("/console/audit")
    assert page.status_code == 200 and "Access log chain: intact" in page.text
    r = client.post("/console/search", data={"plate_pattern": "7ABC*", "purpose_code": "STOLEN-VEHICLE",
                                             "case_number": "C-1", "csrf": csrf})
    assert r.status_code == 403
