"""Shared fixtures of the authorisation tests (not a test module): two agencies with every role,
agency A's (HOME's) objects of every kind, and checks that a response carries none of A's data."""

from __future__ import annotations

import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
from fastapi.testclient import TestClient  # noqa: E402

from alpr.governance.api import create_app  # noqa: E402
from alpr.governance.auth import totp_now  # noqa: E402
from alpr.governance.roles import AGENCY_ROLES, PLATFORM_AGENCY  # noqa: E402
from alpr.governance.search import SearchCriteria  # noqa: E402

from governance_helpers import (OTHER, PASSWORD, Clock, add_user, bootstrap, make_gov, second_supervisor,  # noqa: E402
                                seed_alerts, seed_reads)

PURPOSE = {"purpose_code": "STOLEN-VEHICLE", "case_number": "C-24-100"}
ROLES = [r.value for r in AGENCY_ROLES]
# data only the home agency has: none of it may appear in another agency's 200 responses
HOME_ONLY = ("7ABC124", "8XYZ999", "chief.dhspd", "u.operator", "u.designee", "u.custodian", "u.auditor",
             "C-HOME-HOLD", "HOME-HOT-1", "Det. Home")


def _now() -> float:
    return time.time()


class Env:
    def __init__(self, grant: bool = True):
        self.clock = Clock()
        self.gov = gov = make_gov(self.clock, max_failed_logins=3)
        admin, secret = bootstrap(gov)
        self.secrets = {"administrator": (admin.username, secret)}
        users = {}
        for role in ROLES[1:]:
            u, s = add_user(gov, admin, f"u.{role}", role)
            self.secrets[role] = (u.username, s)
            users[role] = u
        # created by the bootstrapped deputy: the administrator and the designee may both approve it
        add_user(gov, second_supervisor(gov, admin), "u.pending", "operator", trained=False, approve=False)
        o_admin, o_secret = bootstrap(gov, OTHER)
        self.secrets["other"] = (o_admin.username, o_secret)
        o_op, o_op_secret = add_user(gov, o_admin, "o.operator", "operator")
        self.secrets["other_operator"] = (o_op.username, o_op_secret)
        for role in ROLES[1:]:
            if role != "operator":
                u, s = add_user(gov, o_admin, f"o.{role}", role)
                self.secrets[f"other_{role}"] = (u.username, s)
        platform, p_secret = bootstrap(gov, PLATFORM_AGENCY, "platform.ops")
        self.secrets["platform"] = (platform.username, p_secret)
        seed_reads(gov)
        seed_alerts(gov)
        now = time.time()
        entry, _ = gov.hotlists.add_entry(users["operator"], plate="4HOM777", list_code="HOME-HOT-1",
                                          case_number="C-24-150", purpose_code="STOLEN-VEHICLE",
                                          expires_at=now + 86_400)
        pending = gov.sharing.create_request(
            users["custodian"], requesting_agency=OTHER, requester_name="Det. Home", purpose_code="STOLEN-VEHICLE",
            case_number="C-24-101", purpose_text="stolen car", scope=_scope(now))
        approved = gov.sharing.create_request(
            users["custodian"], requesting_agency=OTHER, requester_name="Det. Home", purpose_code="STOLEN-VEHICLE",
            case_number="C-24-102", purpose_text="stolen car", scope=_scope(now))
        if grant:  # an approved share gives the other agency the scoped reads (by design)
            gov.sharing.review(users["designee"], approved.request_id, True, "ok", 7)
        gov.evidence.place_hold(users["operator"], "C-HOME-HOLD", "homicide", SearchCriteria("7ABC*"))
        self.ids = {"entry_id": entry.entry_id, "pending_share": pending.request_id,
                    "approved_share": approved.request_id}
        self.client = TestClient(create_app(governance=gov))

    def headers(self, who: str) -> dict:
        username, secret = self.secrets[who]
        self.clock.advance(30)  # each TOTP code is accepted once
        r = self.client.post("/api/auth/login", json={"username": username, "password": PASSWORD,
                                                      "totp": totp_now(secret, self.clock())})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


def _scope(now: float):
    from alpr.governance.models import SharingScope
    return SharingScope(plate_pattern="7ABC123,7ABC124", start_ts=now - 86_400, end_ts=now)


def _assert_no_home_data(r, what: str, echo_ok: bool = False) -> None:
    """``echo_ok``: the response is the caller's own access log, which records the ids its
    users tried (their refused attempts) - only its rows' agency is checked."""
    if r.status_code == 200 and r.headers.get("content-type", "").startswith("application/json"):
        text = "" if echo_ok else r.text
        leaked = [s for s in HOME_ONLY if s in text]
        assert not leaked, f"{what} leaked home-agency data {leaked}: {text[:300]}"
        body = r.json()
        for row in _rows(body):
            assert row.get("agency", OTHER) in (OTHER, "*"), f"{what} returned a {row.get('agency')} row"


def _rows(body) -> list[dict]:
    if isinstance(body, list):
        return [x.get("alert", x) if isinstance(x, dict) else {} for x in body]
    if isinstance(body, dict):
        return [x for x in body.get("results", body.get("reads", [])) if isinstance(x, dict)]
    return []

