"""Shared pytest set-up: markers, sample data location, service fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ALPR_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config):
    config.addinivalue_line("markers", "services: needs the real Kafka/Cassandra/Flink/Triton services")
    config.addinivalue_line("markers", "browser: drives the web console in headless Chromium")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


SERVICE_FIXTURES = ("kafka_service", "cassandra_service", "flink_service", "triton_service")


def pytest_itemcollected(item):
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) every test that uses a real
    service runs in ONE worker, in file order, so the session's Kafka, Cassandra, Flink and
    Triton start once and the fault tests that stop them disturb no other test; the other tests
    share out over both workers meanwhile (they need no service). Marked as each test is
    collected: xdist reads the marks in its own ``pytest_collection_modifyitems``."""
    if item.get_closest_marker("services") or any(f in getattr(item, "fixturenames", ()) for f in SERVICE_FIXTURES):
        item.add_marker(pytest.mark.xdist_group("services"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real photos not present at {SHARED_DATA}")
    return SHARED_DATA


try:  # session-scoped service fixtures (Kafka, Cassandra, Flink, Triton)
    from services import *  # noqa: F401,F403
except ImportError as exc:  # pragma: no cover - only while the module is missing
    if "services" not in str(exc):
        raise
