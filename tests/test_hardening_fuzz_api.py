"""Hardening: property-based fuzzing of the governance API from its own OpenAPI schema.

Schemathesis generates requests for every operation (valid and invalid bodies, paths, query
strings) against the in-process ASGI app on a temporary SQLite store, once without
credentials and once as an administrator. No request may end in a 5xx, and every response
that the schema describes must match it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error, response_schema_conformance  # noqa: E402

from alpr.governance.api import create_app  # noqa: E402
from alpr.governance.auth import totp_now  # noqa: E402

from governance_helpers import (PASSWORD, Clock, add_user, bootstrap, make_gov, seed_alerts,  # noqa: E402
                                seed_reads)

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, response_schema_conformance]


def _build_env():
    """The app under test, built at import time (schemathesis parametrises from the schema)."""
    tmp = Path(tempfile.mkdtemp(prefix="alpr-apifuzz-"))
    atexit.register(shutil.rmtree, tmp, True)
    clock = Clock()
    gov = make_gov(clock, db_path=str(tmp / "gov.db"), read_path=str(tmp / "reads.db"),
                   max_failed_logins=1_000_000)
    admin, secret = bootstrap(gov)
    add_user(gov, admin, "u.operator", "operator")
    seed_reads(gov)
    seed_alerts(gov)
    return gov, clock, create_app(governance=gov), admin.username, secret


GOV, CLOCK, APP, ADMIN, ADMIN_SECRET = _build_env()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def admin_headers():
    from fastapi.testclient import TestClient

    r = TestClient(APP).post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD,
                                                      "totp": totp_now(ADMIN_SECRET, CLOCK())})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@schema.parametrize()
@FUZZ
def test_unauthenticated_requests_never_5xx_and_match_the_schema(case):
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    if case.path.startswith("/api/") and case.path != "/api/auth/login":
        assert 400 <= response.status_code < 500, (case.method, case.path, response.status_code)  # never served


@schema.parametrize()
@FUZZ
def test_authenticated_requests_never_5xx_and_match_the_schema(case, admin_headers):
    response = case.call(headers={**(case.headers or {}), **admin_headers})
    case.validate_response(response, checks=CHECKS)
