"""Tenancy (issue 12 item 1): an actor of agency B against the data of agency A on every API route
and every console route, with every role of B. Nothing of A may leak, nothing of A may move, and
for A's objects B gets exactly the answer (status and body) it gets for objects that do not exist:
no existence oracle."""

from __future__ import annotations

import re

from typing import Callable, Optional

from alpr.governance.auth import totp_now
from alpr.governance.search import SearchCriteria

from authz_helpers import HOME_ONLY, PURPOSE, Env, _assert_no_home_data, _now
from governance_helpers import HOME, OTHER, PASSWORD


# ---------------------------------------------------------------------------------------------
# Issue 12 item 1: actor of agency B against data of agency A on EVERY API route, every B role.
def _b_calls(ids: dict) -> dict[tuple[str, str], Callable]:
    """(method, route template) -> call(client, headers) aimed at the objects named in ``ids``:
    agency A's (HOME's) objects, or (:data:`MISSING`) objects that do not exist."""
    now = _now()
    a, user, alert = ids["audit_id"], ids["user"], ids["alert"]
    return {
        ("GET", "/api/auth/me"): lambda c, h: c.get("/api/auth/me", headers=h),
        ("POST", "/api/auth/logout"): None,  # ends the caller's own session only; exercised last below
        ("GET", "/api/users"): lambda c, h: c.get("/api/users", headers=h),
        ("POST", "/api/users"): lambda c, h: c.post("/api/users", headers=h, json={
            "username": "b.into.a", "role": "operator", "password": PASSWORD, "agency": HOME}),
        ("POST", "/api/users/{username}/approve"): lambda c, h: c.post(f"/api/users/{ids['pending_user']}/approve",
                                                                       headers=h),
        ("POST", "/api/users/{username}/training"): lambda c, h: c.post(f"/api/users/{user}/training", headers=h,
                                                                        json={"course": "x"}),
        ("POST", "/api/users/{username}/separate"): lambda c, h: c.post(f"/api/users/{user}/separate", headers=h,
                                                                        json={"reason": "x"}),
        ("POST", "/api/users/{username}/suspend"): lambda c, h: c.post(f"/api/users/{user}/suspend", headers=h,
                                                                       json={"reason": "x"}),
        ("POST", "/api/users/{username}/unlock"): lambda c, h: c.post(f"/api/users/{user}/unlock", headers=h),
        ("POST", "/api/users/{username}/reenrol"): lambda c, h: c.post(f"/api/users/{user}/reenrol", headers=h),
        ("POST", "/api/auth/enrol"): lambda c, h: c.post("/api/auth/enrol", json={"token": "guess", "password": PASSWORD}),
        ("POST", "/api/auth/password"): lambda c, h: c.post("/api/auth/password", headers=h, json={
            "current_password": "wrong guess 123", "new_password": "another long password", "totp": "000000"}),
        ("POST", "/api/auth/mfa"): lambda c, h: c.post("/api/auth/mfa", headers=h, json={
            "password": "wrong guess 123", "totp": "000000"}),
        ("POST", "/api/search"): lambda c, h: c.post("/api/search", headers=h, json={"plate_pattern": "*", **PURPOSE}),
        ("GET", "/api/alerts"): lambda c, h: c.get("/api/alerts", headers=h, params={
            "purpose_code": "HOTLIST-HIT", "case_number": "INC-1"}),
        ("GET", "/api/alerts/{alert_id}/history"): lambda c, h: c.get(f"/api/alerts/{alert}/history", headers=h),
        ("POST", "/api/alerts/{alert_id}/acknowledge"): lambda c, h: c.post(
            f"/api/alerts/{alert}/acknowledge", headers=h, json={"incident_number": "INC-9"}),
        ("POST", "/api/alerts/{alert_id}/verify"): lambda c, h: c.post(f"/api/alerts/{alert}/verify", headers=h,
                                                                       json={"system": "CLETS", "reference": "R",
                                                                             "confirmed": True, "visual_check": True}),
        ("POST", "/api/alerts/{alert_id}/accept"): lambda c, h: c.post(f"/api/alerts/{alert}/accept", headers=h),
        ("POST", "/api/alerts/{alert_id}/reject"): lambda c, h: c.post(f"/api/alerts/{alert}/reject", headers=h,
                                                                       json={"reason": "x"}),
        ("POST", "/api/alerts/{alert_id}/enforcement"): lambda c, h: c.post(f"/api/alerts/{alert}/enforcement",
                                                                            headers=h, json={"action": "stop"}),
        ("POST", "/api/alerts/{alert_id}/dispose"): lambda c, h: c.post(f"/api/alerts/{alert}/dispose", headers=h,
                                                                        json={"disposition": "x"}),
        ("GET", "/api/hotlist"): lambda c, h: c.get("/api/hotlist", headers=h),
        ("POST", "/api/hotlist"): lambda c, h: c.post("/api/hotlist", headers=h, json={
            "plate": "4HOM777", "list_code": "B-LIST", "case_number": "C-24-150", "expires_at": now + 3600,
            "purpose_code": "STOLEN-VEHICLE"}),
        ("DELETE", "/api/hotlist/{entry_id}"): lambda c, h: c.delete(f"/api/hotlist/{ids['entry_id']}", headers=h),
        ("GET", "/api/audit/log"): lambda c, h: c.get("/api/audit/log", headers=h),
        ("GET", "/api/audit/verify"): lambda c, h: c.get("/api/audit/verify", headers=h),
        ("POST", "/api/audit/samples"): lambda c, h: c.post("/api/audit/samples", headers=h, json={
            "period_start": now - 86_400, "period_end": now + 60, "size": 3, "seed": 1}),
        ("POST", "/api/audit/samples/{audit_id}/findings"): lambda c, h: c.post(
            f"/api/audit/samples/{a}/findings", headers=h, json={"seq": ids["audit_seq"], "result": "ok"}),
        ("POST", "/api/audit/samples/{audit_id}/sign"): lambda c, h: c.post(f"/api/audit/samples/{a}/sign",
                                                                            headers=h, json={"summary": "fine"}),
        ("GET", "/api/audit/report"): lambda c, h: c.get("/api/audit/report", headers=h),
        ("POST", "/api/sharing/agencies"): lambda c, h: c.post("/api/sharing/agencies", headers=h,
                                                               json={"agency_id": "RSO"}),
        ("GET", "/api/sharing/agencies"): lambda c, h: c.get("/api/sharing/agencies", headers=h),
        ("PUT", "/api/agencies/{agency_id}/profile"): lambda c, h: c.put(f"/api/agencies/{ids['agency']}/profile",
                                                                         headers=h, json={"name": "relabelled"}),
        ("GET", "/api/sharing/deliveries"): lambda c, h: c.get("/api/sharing/deliveries", headers=h),
        ("GET", "/api/sharing/requests"): lambda c, h: c.get("/api/sharing/requests", headers=h),
        ("POST", "/api/sharing/requests"): lambda c, h: c.post("/api/sharing/requests", headers=h, json={
            "requesting_agency": OTHER, "requester_name": "Det. B", "purpose_text": "x",
            "scope": {"plate_pattern": "7ABC124", "start_ts": now - 86_400, "end_ts": now}, **PURPOSE}),
        ("POST", "/api/sharing/requests/{request_id}/review"): lambda c, h: c.post(
            f"/api/sharing/requests/{ids['pending_share']}/review", headers=h, json={"approve": True}),
        ("POST", "/api/sharing/requests/{request_id}/fulfil"): lambda c, h: c.post(
            f"/api/sharing/requests/{ids['approved_share']}/fulfil", headers=h),
        # hotlist agreements: A's agreement with a third agency (CCPD); B is no party to it
        ("GET", "/api/agreements"): lambda c, h: c.get("/api/agreements", headers=h),
        ("POST", "/api/agreements"): lambda c, h: c.post("/api/agreements", headers=h, json={
            "owner_agency": HOME, "partner_agency": THIRD, "document_ref": "MOU-B-FORGED", "start_ts": now - 60,
            "expires_ts": now + 86_400, "list_codes": ["HOME-HOT-1"]}),
        ("GET", "/api/agreements/{agreement_id}"): lambda c, h: c.get(f"/api/agreements/{ids['agreement']}",
                                                                      headers=h),
        ("POST", "/api/agreements/{agreement_id}/review"): lambda c, h: c.post(
            f"/api/agreements/{ids['pending_agreement']}/review", headers=h, json={"approve": True}),
        ("POST", "/api/agreements/{agreement_id}/revoke"): lambda c, h: c.post(
            f"/api/agreements/{ids['agreement']}/revoke", headers=h, json={"reason": "x"}),
        ("GET", "/api/retention"): lambda c, h: c.get("/api/retention", headers=h),
        ("GET", "/api/go-live"): lambda c, h: c.get("/api/go-live", headers=h),
        ("POST", "/api/go-live/meeting"): lambda c, h: c.post("/api/go-live/meeting", headers=h, json={
            "meeting_date": "2024-02-01", "governing_body": "council", "agenda_item": "7", "minutes_ref": "x"}),
        ("POST", "/api/go-live"): lambda c, h: c.post("/api/go-live", headers=h),
        ("PUT", "/api/retention/{agency}"): lambda c, h: c.put(f"/api/retention/{ids['agency']}", headers=h,
                                                               json={"days": 400}),
        ("POST", "/api/retention/purge"): lambda c, h: c.post("/api/retention/purge", headers=h),
        # a hold on a case number that agency A holds too: B's own hold, exactly as on an unused number
        ("POST", "/api/evidence/holds"): lambda c, h: c.post("/api/evidence/holds", headers=h, json={
            "case_number": ids["hold_case"], "reason": "mine now", "plate_pattern": "*"}),
        ("POST", "/api/evidence/{case_number}/export"): lambda c, h: c.post(
            f"/api/evidence/{ids['export_case']}/export", headers=h),
    }


# objects that exist nowhere: for A's objects, B must get exactly these answers
MISSING = {"user": "zz.nobody", "pending_user": "zz.nobody", "alert": "zz-no-alert", "entry_id": "zz-no-entry",
           "audit_id": "zz-no-audit", "pending_share": "zz-no-share", "approved_share": "zz-no-share",
           "agency": "ZZNOAGENCY", "hold_case": "C-NEVER-USED-9", "export_case": "C-NEVER-USED-8",
           "agreement": "zz-no-agreement", "pending_agreement": "zz-no-agreement"}
THIRD = "CCPD"  # a third agency: A's hotlist agreement is with it, never with B
A_CASE_TO_HOLD = "C-A-SHARED-7"  # agency A holds it; B may hold the same number as its own
# routes that name one object (in the path, or the case number of a hold)
OBJECT_ROUTES = lambda calls: [k for k in calls if "{" in k[1] or k == ("POST", "/api/evidence/holds")]  # noqa: E731
# routes that carry no agency data at all (public page, login itself)
NO_AGENCY_DATA = {("POST", "/api/auth/login"), ("GET", "/public/policy"), ("GET", "/public/stats"),
                  ("GET", "/public/purposes"), ("GET", "/transparency"), ("GET", "/public")}
B_ROLES = ["other", "other_operator", "other_designee", "other_auditor", "other_custodian"]


def _same_answer(r_a, r_m, ids_a: dict, what: str) -> None:
    """B's answer for A's object equals its answer for a missing one (status and body, the id aside)."""
    def norm(text: str, ids: dict) -> str:
        # the per-session CSRF token is random hex: mask it first, or an id such as "a1" inside it
        # would be taken for the object's id (a flaky difference, not a leak)
        text = re.sub(r'name="csrf" value="[0-9a-f]+"', 'name="csrf" value="<csrf>"', text)
        for v in sorted({str(v) for k, v in ids.items() if k in MISSING}, key=len, reverse=True):
            text = text.replace(v, "<id>")
        return text
    assert r_a.status_code == r_m.status_code, f"{what}: {r_a.status_code} for A's object, {r_m.status_code} " \
                                               f"for a missing one ({r_a.text[:150]} / {r_m.text[:150]})"
    assert norm(r_a.text, ids_a) == norm(r_m.text, MISSING), f"{what}: {r_a.text[:200]} / {r_m.text[:200]}"


def test_agency_b_against_agency_a_data_on_every_api_route_has_zero_leaks():
    env = Env(grant=False)
    gov = env.gov
    auditor, operator = gov.store.get_user("u.auditor"), gov.store.get_user("u.operator")
    gov.search.search(operator, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", "C-24-1", None, channel="api")
    gov.evidence.place_hold(operator, A_CASE_TO_HOLD, "burglary", SearchCriteria("7ABC*"))
    sample = gov.audits.create_sample(auditor, _now() - 3600, _now() + 60, size=1, seed=1)
    agreed, pending_agreement = _home_agreements(gov)
    env.ids.update(agreement=agreed.agreement_id, pending_agreement=pending_agreement.agreement_id)
    env.ids.update(audit_id=sample.audit_id, audit_seq=sample.sample_seqs[0], user="u.operator",
                   pending_user="u.pending", alert="a1", agency=HOME, hold_case=A_CASE_TO_HOLD,
                   export_case="C-HOME-HOLD")
    calls, missing = _b_calls(env.ids), _b_calls({**env.ids, **MISSING})
    routes = {(m.upper(), p) for p, ops in env.client.app.openapi()["paths"].items() for m in ops}
    assert routes - NO_AGENCY_DATA == set(calls), (
        f"routes without an A-vs-B matrix entry: {sorted(routes - NO_AGENCY_DATA - set(calls))}; "
        f"stale entries: {sorted(set(calls) - routes)}")
    before = {"profile": gov.store.get_agency(HOME), "audit": gov.store.get_audit(sample.audit_id),
              "meeting": gov.store.get_public_meeting(HOME),
              "pending": gov.store.get_sharing(env.ids["pending_share"]).status,
              "hold": gov.store.get_hold(HOME, "C-HOME-HOLD"), "held": gov.store.get_hold(HOME, A_CASE_TO_HOLD),
              "retention": gov.retention.retention_days(HOME)}
    for who in B_ROLES:
        h = env.headers(who)
        for (method, path), call in calls.items():
            if call is None:
                continue
            r = call(env.client, h)
            assert r.status_code < 500, (who, method, path, r.status_code, r.text[:200])
            if "{" in path and method != "GET" or path.endswith("/history") or path in (
                    "/api/auth/enrol", "/api/auth/password", "/api/auth/mfa"):
                refusals = (401, 422) if path.startswith("/api/auth/") else (403, 404, 409, 422)
                assert r.status_code in refusals, f"{who} {method} {path} on A's object: {r.status_code}"
            _assert_no_home_data(r, f"{who} {method} {path}", echo_ok=path == "/api/audit/log")
            if (method, path) in OBJECT_ROUTES(calls):  # no existence oracle
                _same_answer(r, missing[(method, path)](env.client, h), env.ids, f"{who} {method} {path}")
        assert env.client.post("/api/auth/logout", headers=h).status_code == 200
    # nothing of A moved
    assert gov.store.get_agency(HOME) == before["profile"]
    assert gov.store.get_public_meeting(HOME) == before["meeting"]
    assert gov.store.get_audit(sample.audit_id) == before["audit"]
    assert gov.store.get_sharing(env.ids["pending_share"]).status == before["pending"]
    assert gov.store.get_hold(HOME, "C-HOME-HOLD") == before["hold"]
    assert gov.store.get_hold(HOME, A_CASE_TO_HOLD) == before["held"]  # B's hold of the number is B's own
    assert gov.store.get_hold(OTHER, A_CASE_TO_HOLD).agency == OTHER
    assert {i.read_id for i in gov.store.evidence_items(OTHER, A_CASE_TO_HOLD)} <= {"r4", "r5"}
    assert gov.retention.retention_days(HOME) == before["retention"]
    assert gov.store.get_user("b.into.a") is None or gov.store.get_user("b.into.a").agency == OTHER
    assert gov.store.get_agreement(agreed.agreement_id) == agreed
    assert gov.store.get_agreement(pending_agreement.agreement_id) == pending_agreement
    assert [a.agreement_id for a in gov.store.list_agreements(HOME)] == sorted(
        [agreed.agreement_id, pending_agreement.agreement_id])  # B proposed nothing in A's name
    assert not [r for r in gov.store.access_records() if r.agency == OTHER and r.outcome == "allowed"
                and r.data_elements.get("agreement_id") in (agreed.agreement_id, pending_agreement.agreement_id)]
    op = gov.store.get_user("u.operator")
    assert op.status == "active" and op.password_hash and not op.enrol_token_hash
    assert gov.store.list_deliveries(HOME) == []


def _home_agreements(gov):
    """Agency A's hotlist agreements with THIRD: one approved (by THIRD), one proposed by A."""
    from alpr.governance.registry import curated
    from governance_helpers import bootstrap

    gov.store.put_agency(curated(THIRD))
    home, third = gov.store.get_user("chief.dhspd"), bootstrap(gov, THIRD)[0]
    now = _now()
    made = [gov.agreements.propose(home, owner_agency=HOME, partner_agency=THIRD, document_ref=f"MOU-A-{n}",
                                   start_ts=now - 60, expires_ts=now + 30 * 86_400) for n in (1, 2)]
    return gov.agreements.review(third, made[0].agreement_id, True), made[1]


# ---------------------------------------------------------------------------------------------
# ... and on every console route (the server-rendered screens), as agency B's administrator.
def _console_calls(c, csrf: str, ids: dict) -> dict[tuple[str, str], Optional[Callable]]:
    purpose = {"purpose_code": "STOLEN-VEHICLE", "case_number": "C-24-100", "csrf": csrf}
    alert = ids["alert"]
    return {
        ("GET", "/console/login"): lambda: c.get("/console/login"),
        ("POST", "/console/login"): lambda: c.post("/console/login", data={"username": "no.such.user",
                                                                           "password": "x", "totp": "1"}),
        ("POST", "/console/logout"): None,  # ends B's own session; exercised last
        ("GET", "/console/"): lambda: c.get("/console/"),
        ("GET", "/console/search"): lambda: c.get("/console/search"),
        ("POST", "/console/search"): lambda: c.post("/console/search", data={"plate_pattern": "*", **purpose}),
        ("GET", "/console/alerts"): lambda: c.get("/console/alerts", params={"purpose_code": "HOTLIST-HIT",
                                                                             "case_number": "INC-1"}),
        ("POST", "/console/alerts/{alert_id}/{step}"): lambda: c.post(f"/console/alerts/{alert}/acknowledge",
                                                                      data={"incident_number": "X", "csrf": csrf}),
        ("GET", "/console/alerts/{alert_id}"): lambda: c.get(f"/console/alerts/{alert}"),
        ("GET", "/console/alerts/{alert_id}/crop.jpg"): lambda: c.get(f"/console/alerts/{alert}/crop.jpg"),
        ("GET", "/console/hotlists"): lambda: c.get("/console/hotlists"),
        ("POST", "/console/hotlists"): lambda: c.post("/console/hotlists", data={
            "plate": "4HOM777", "list_code": "B-LIST", "expires": "", **purpose}),
        ("GET", "/console/audit"): lambda: c.get("/console/audit"),
        ("GET", "/console/sharing"): lambda: c.get("/console/sharing"),
        ("POST", "/console/sharing"): lambda: c.post("/console/sharing", data={
            "requesting_agency": HOME, "requester_name": "x", "purpose_text": "x", "plate_pattern": "7ABC124",
            **purpose}),
        ("POST", "/console/sharing/{request_id}/review"): lambda: c.post(
            f"/console/sharing/{ids['pending_share']}/review", data={"decision": "approve", "csrf": csrf}),
        ("GET", "/console/retention"): lambda: c.get("/console/retention"),
        ("POST", "/console/retention"): lambda: c.post("/console/retention", data={"days": "400", "csrf": csrf}),
        ("GET", "/console/users"): lambda: c.get("/console/users"),
        ("POST", "/console/users"): lambda: c.post("/console/users", data={"username": "b.console",
                                                                           "role": "operator", "csrf": csrf}),
        ("POST", "/console/users/{username}/{step}"): lambda: c.post(f"/console/users/{ids['pending_user']}/approve",
                                                                     data={"csrf": csrf}),
        ("GET", "/console/enrol"): lambda: c.get("/console/enrol", params={"token": "guess"}),
        ("POST", "/console/enrol"): lambda: c.post("/console/enrol", data={"token": "guess", "password": PASSWORD,
                                                                           "password2": PASSWORD}),
        ("POST", "/console/evidence/{case_number}/export"): lambda: c.post(
            f"/console/evidence/{ids['export_case']}/export", data={"csrf": csrf}),
    }


def test_agency_b_against_agency_a_data_on_every_console_route_has_zero_leaks():
    import re

    from alpr.governance.console.admin import router as admin_router
    from alpr.governance.console.routes import router as console_router

    env = Env(grant=False)
    gov, c = env.gov, env.client
    gov.evidence.image_loader = lambda r: b"not-used"
    username, secret = env.secrets["other"]
    env.clock.advance(30)
    r = c.post("/console/login", data={"username": username, "password": PASSWORD,
                                       "totp": totp_now(secret, env.clock())}, follow_redirects=False)
    assert r.status_code == 303
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/console/search").text).group(1)
    ids = {**env.ids, "user": "u.operator", "pending_user": "u.pending", "alert": "a1", "agency": HOME,
           "export_case": "C-HOME-HOLD"}
    calls, missing = _console_calls(c, csrf, ids), _console_calls(c, csrf, {**ids, **MISSING})
    routes = {(m, r.path) for r in console_router.routes + admin_router.routes for m in r.methods}
    assert routes == set(calls), f"console routes without a matrix entry: {sorted(routes - set(calls))}"
    for other_step in ("train", "suspend", "unlock", "reenrol"):  # every users step on A's account
        r = c.post(f"/console/users/u.operator/{other_step}", data={"course": "x", "csrf": csrf})
        r_m = c.post(f"/console/users/{MISSING['user']}/{other_step}", data={"course": "x", "csrf": csrf})
        assert r.status_code in (403, 404), (other_step, r.status_code)
        _same_answer(r, r_m, ids, f"console users {other_step}")
    for (method, path), call in calls.items():
        if call is None:
            continue
        r = call()
        assert r.status_code < 500, (method, path, r.status_code)
        # a refusal may echo the id B asked for; only what B is shown as data counts as a leak
        leaked = [s for s in HOME_ONLY if r.status_code == 200 and s in r.text and path != "/console/audit"]
        assert not leaked, f"{method} {path} leaked {leaked}"
        if "{" in path:
            assert r.status_code in (403, 404, 409, 422), f"{method} {path} on A's object: {r.status_code}"
            _same_answer(r, missing[(method, path)](), ids, f"console {method} {path}")
    assert c.post("/console/logout", follow_redirects=False).status_code == 303
    assert gov.store.get_user("u.pending").status == "pending"
    op = gov.store.get_user("u.operator")
    assert op.status == "active" and not op.enrol_token_hash
    assert gov.store.get_sharing(ids["pending_share"]).status == "pending"
    assert gov.store.get_workflow("a1") is None
