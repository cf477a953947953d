"""JSON API (FastAPI TestClient): every rule enforced over HTTP."""

import io
import time
import warnings
import zipfile

import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)
from fastapi.testclient import TestClient  # noqa: E402

from alpr.governance.api import create_app  # noqa: E402
from alpr.governance.auth import totp_now  # noqa: E402
from alpr.governance.evidence import verify_evidence_zip  # noqa: E402

from governance_helpers import (OTHER, PASSWORD, Clock, add_user, bootstrap, make_gov, seed_alerts,  # noqa: E402
                                seed_reads)

ROLES = ["administrator", "designee", "operator", "auditor", "custodian"]


@pytest.fixture
def env():
    clock = Clock()
    gov = make_gov(clock, max_failed_logins=3)
    admin, admin_secret = bootstrap(gov)
    secrets = {"administrator": (admin.username, admin_secret)}
    for role in ROLES[1:]:
        u, s = add_user(gov, admin, f"u.{role}", role)
        secrets[role] = (u.username, s)
    p_admin, p_secret = bootstrap(gov, OTHER)
    secrets["other"] = (p_admin.username, p_secret)
    seed_reads(gov)
    seed_alerts(gov)
    client = TestClient(create_app(governance=gov))

    def token(role):
        username, secret = secrets[role]
        clock.advance(30)  # each TOTP code is accepted once: the next login uses the next code
        r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD,
                                                 "totp": totp_now(secret, clock())})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return gov, clock, client, token, secrets


PURPOSE = {"purpose_code": "STOLEN-VEHICLE", "case_number": "C-24-100"}


def test_openapi_lists_routers(env):
    _, _, client, _, _ = env
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/auth/login", "/api/search", "/api/alerts", "/api/hotlist", "/api/audit/verify",
              "/api/sharing/requests", "/api/retention", "/api/evidence/holds", "/public/policy"):
        assert p in paths


def test_login_needs_totp_and_locks_out(env):
    gov, clock, client, _, secrets = env
    username, secret = secrets["operator"]
    assert client.post("/api/auth/login", json={"username": username, "password": PASSWORD,
                                                "totp": ""}).status_code == 401
    for _ in range(2):
        client.post("/api/auth/login", json={"username": username, "password": "nope-nope-nope", "totp": "1"})
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD,
                                             "totp": totp_now(secret, clock())})
    assert r.status_code == 401 and "locked" in r.json()["detail"]
    # the answer is the same as for a username that does not exist
    nobody = client.post("/api/auth/login", json={"username": "no.such.user", "password": PASSWORD, "totp": "123456"})
    assert nobody.status_code == 401 and nobody.json() == r.json()


def test_no_token_and_expired_session_are_401(env):
    gov, clock, client, token, _ = env
    assert client.post("/api/search", json={"plate_pattern": "7ABC*", **PURPOSE}).status_code == 401
    h = token("operator")
    assert client.get("/api/auth/me", headers=h).status_code == 200
    clock.advance(gov.settings.session_idle_s + 1)
    assert client.get("/api/auth/me", headers=h).status_code == 401


@pytest.mark.parametrize("role,search,alerts,hotlist,log,purge,users,share_review", [
    ("administrator", 200, 200, 200, 200, 200, 200, True),
    ("designee", 200, 200, 200, 200, 403, 200, True),
    ("operator", 200, 200, 200, 403, 403, 403, False),
    ("auditor", 403, 403, 403, 200, 403, 403, False),
    ("custodian", 403, 403, 403, 200, 200, 403, False),
])
def test_role_by_endpoint_matrix(env, role, search, alerts, hotlist, log, purge, users, share_review):
    gov, clock, client, token, _ = env
    h = token(role)
    assert client.post("/api/search", json={"plate_pattern": "7ABC*", **PURPOSE}, headers=h).status_code == search
    assert client.get("/api/alerts", params={"purpose_code": "HOTLIST-HIT", "case_number": "INC-1"},
                      headers=h).status_code == alerts
    assert client.get("/api/hotlist", headers=h).status_code == hotlist
    assert client.get("/api/audit/log", headers=h).status_code == log
    assert client.post("/api/retention/purge", headers=h).status_code == purge
    assert client.get("/api/users", headers=h).status_code == users
    # share review: custodian records a request, then this role tries to approve it
    admin_h = token("custodian")
    now = time.time()
    req = client.post("/api/sharing/requests", headers=admin_h, json={
        "requesting_agency": OTHER, "requester_name": "Det. Roe", "purpose_text": "stolen car",
        "scope": {"plate_pattern": "7ABC123,7ABC124", "start_ts": now - 86_400, "end_ts": now}, **PURPOSE}).json()
    r = client.post(f"/api/sharing/requests/{req['request_id']}/review", headers=h, json={"approve": True})
    if role == "custodian":
        assert r.status_code == 403  # entered it and cannot approve anyway
    else:
        assert (r.status_code == 200) == share_review, r.text


def test_search_purpose_required_and_logged(env):
    gov, _, client, token, _ = env
    h = token("operator")
    r = client.post("/api/search", json={"plate_pattern": "7ABC*", "note": "just looking"}, headers=h)
    assert r.status_code == 422 and "purpose code" in r.json()["detail"]
    r = client.post("/api/search", json={"plate_pattern": "7ABC*", "purpose_code": "STOLEN-VEHICLE"}, headers=h)
    assert r.status_code == 422
    r = client.post("/api/search", json={"plate_pattern": "7ABC*", **PURPOSE}, headers=h)
    assert r.status_code == 200 and r.json()["count"] == 2
    assert {x["agency"] for x in r.json()["results"]} == {"DHSPD"}
    rec = gov.store.access_records()[-1]
    assert (rec.username, rec.agency, rec.action, rec.purpose_code, rec.case_number, rec.channel) == \
        ("u.operator", "DHSPD", "search_reads", "STOLEN-VEHICLE", "C-24-100", "api")
    assert rec.data_elements["plate_pattern"] == "7ABC*"
    refused = [r for r in gov.store.access_records() if r.action == "search_reads" and r.outcome == "denied"]
    assert len(refused) == 2


def test_idor_across_agencies(env):
    gov, _, client, token, _ = env
    h = token("operator")
    r = client.post("/api/alerts/b1/acknowledge", json={"incident_number": "INC-9"}, headers=h)
    assert r.status_code == 404
    other = token("other")
    r = client.put("/api/retention/DHSPD", json={"days": 400}, headers=other)
    assert r.status_code == 403
    r = client.post("/api/users/u.operator/approve", headers=other)
    assert r.status_code == 404  # another agency's account answers like a missing one
    r = client.post("/api/search", json={"plate_pattern": "*", **PURPOSE}, headers=other)
    assert {x["agency"] for x in r.json()["results"]} == {OTHER}


def test_alert_verification_over_api(env):
    gov, _, client, token, _ = env
    h = token("operator")
    assert client.post("/api/alerts/a1/acknowledge", json={"incident_number": "INC-24-5"}, headers=h).status_code == 200
    r = client.post("/api/alerts/a1/enforcement", json={"action": "stop"}, headers=h)
    assert r.status_code == 409
    r = client.post("/api/alerts/a1/verify", headers=h, json={"system": "CLETS", "reference": "R-1",
                                                               "confirmed": True, "visual_check": True})
    assert r.status_code == 200 and r.json()["verified_by"] == "u.operator"
    assert client.post("/api/alerts/a1/accept", headers=h).status_code == 200
    assert client.post("/api/alerts/a1/enforcement", json={"action": "stop"}, headers=h).status_code == 200
    assert client.post("/api/alerts/a1/dispose", json={"disposition": "ARREST"}, headers=h).json()["state"] == "disposed"
    hist = client.get("/api/alerts/a1/history", headers=h).json()
    assert [e["to_state"] for e in hist][:3] == ["acknowledged", "verified", "accepted"]


def test_retention_floor_over_api(env):
    _, _, client, token, _ = env
    h = token("custodian")
    r = client.put("/api/retention/DHSPD", json={"days": 30}, headers=h)
    assert r.status_code == 422 and "365" in r.json()["detail"]
    assert client.put("/api/retention/DHSPD", json={"days": 400}, headers=h).status_code == 200
    assert client.get("/api/retention", headers=h).json()["ttl_seconds"] == 400 * 86_400


def test_sharing_rules_over_api(env):
    _, _, client, token, _ = env
    admin = token("administrator")
    # an agency administrator may not touch the platform registry at all
    assert client.post("/api/sharing/agencies", headers=admin, json={
        "agency_id": "CBP", "name": "US Customs and Border Protection", "kind": "federal", "state": "US"}).status_code == 403
    now = time.time()
    body = {"requesting_agency": "CBP", "requester_name": "Agent X", "purpose_text": "interdiction",
            "scope": {"plate_pattern": "7ABC123,7ABC124", "start_ts": now - 86_400, "end_ts": now}, **PURPOSE}
    r = client.post("/api/sharing/requests", headers=admin, json=body)
    assert r.status_code == 422 and "California" in r.json()["detail"]
    r = client.post("/api/sharing/requests", headers=admin, json={**body, "requesting_agency": OTHER})
    assert r.status_code == 201
    rid = r.json()["request_id"]
    assert client.post(f"/api/sharing/requests/{rid}/review", headers=token("designee"),
                       json={"approve": True, "days": 7}).status_code == 200
    r = client.post(f"/api/sharing/requests/{rid}/fulfil", headers=token("custodian"))
    assert r.status_code == 200 and sorted(x["read_id"] for x in r.json()["reads"]) == ["r1", "r2"]


def test_evidence_export_manifest_verifies(env, tmp_path):
    gov, _, client, token, _ = env
    op, cust = token("operator"), token("custodian")
    r = client.post("/api/evidence/holds", headers=op, json={"case_number": "C-24-777", "reason": "homicide",
                                                              "plate_pattern": "7ABC*"})
    assert r.status_code == 201 and r.json()["items"] == 2
    assert client.post("/api/evidence/C-24-777/export", headers=op).status_code == 403
    r = client.post("/api/evidence/C-24-777/export", headers=cust)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    out = tmp_path / "e.zip"
    out.write_bytes(r.content)
    assert verify_evidence_zip(out) == []
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert {"manifest.json", "custody.json", "reads/r1.json", "reads/r2.json"} <= set(names)


def test_chain_verify_endpoint_detects_tampering(env):
    gov, _, client, token, _ = env
    h = token("auditor")
    client.post("/api/search", json={"plate_pattern": "7ABC*", **PURPOSE}, headers=token("operator"))
    assert client.get("/api/audit/verify", headers=h).json()["ok"] is True
    c = gov.store.connection
    c.execute("DROP TRIGGER access_log_no_update")
    c.execute("UPDATE access_log SET case_number = 'X' WHERE seq = 3")
    body = client.get("/api/audit/verify", headers=h).json()
    assert body["ok"] is False and body["first_bad_seq"] == 3
    assert client.get("/api/audit/verify", headers=token("operator")).status_code == 403


def test_public_page_without_login_and_without_plates(env):
    gov, _, client, token, _ = env
    client.post("/api/search", json={"plate_pattern": "7ABC123", **PURPOSE}, headers=token("operator"))
    r = client.get("/public")
    assert r.status_code == 200
    assert "1798.90.51" in r.text and "(G)" in r.text
    for plate in ("7ABC123", "7ABC124", "8XYZ999", "5QRS777"):
        assert plate not in r.text
        assert plate not in client.get("/public/stats").text
    assert client.get("/public/stats").json()["searches"] == 1
    assert len(client.get("/public/policy").json()["elements"]) == 7


def test_user_lifecycle_over_api(env):
    gov, clock, client, token, _ = env
    admin = token("administrator")
    r = client.post("/api/users", headers=admin, json={"username": "ofc.new", "role": "operator",
                                                       "password": PASSWORD})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    # the administrator gets a one-time link, never a password or an MFA secret
    assert not {"password_hash", "totp_secret", "enrol_token_hash", "password"} & set(r.json())
    link = r.json()["enrol_link"]
    token_ = link.split("token=")[1]
    e = client.post("/api/auth/enrol", json={"token": token_, "password": PASSWORD})
    assert e.status_code == 200 and e.json()["username"] == "ofc.new"
    secret = e.json()["totp_secret"]
    assert client.post("/api/auth/enrol", json={"token": token_, "password": PASSWORD}).status_code == 401  # once
    assert secret not in gov.store.get_user("ofc.new").totp_secret  # encrypted at rest

    def login():
        clock.advance(30)
        return client.post("/api/auth/login", json={"username": "ofc.new", "password": PASSWORD,
                                                    "totp": totp_now(secret, clock())})
    assert login().status_code == 401
    # two-person rule: the administrator created the account (and held its link); the designee approves
    refused = client.post("/api/users/ofc.new/approve", headers=admin)
    assert refused.status_code == 403 and "two-person rule" in refused.json()["detail"]
    assert gov.store.get_user("ofc.new").status == "pending"
    assert client.post("/api/users/ofc.new/approve", headers=token("designee")).status_code == 200
    h = {"Authorization": f"Bearer {login().json()['token']}"}
    assert client.post("/api/search", json={"plate_pattern": "7ABC*", **PURPOSE}, headers=h).status_code == 403
    assert client.post("/api/users/ofc.new/training", headers=admin, json={"course": "ALPR"}).status_code == 201
    assert client.post("/api/search", json={"plate_pattern": "7ABC*", **PURPOSE}, headers=h).status_code == 200
    assert client.post("/api/users/ofc.new/separate", headers=admin, json={"reason": "resigned"}).status_code == 200
    assert client.get("/api/auth/me", headers=h).status_code == 401
