"""Cassandra 5.0 from infra/services.sh: the alpr schema (TWCS + default TTL), per-write TTL."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "infra" / "cassandra" / "schema.cql"
TTL_TABLES = ("reads_by_plate", "reads_by_camera_day", "reads_by_id", "plate_groups")


def _svcctl():
    spec = importlib.util.spec_from_file_location("svcctl", REPO / "infra" / "svcctl.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def session(cassandra_service):
    pytest.importorskip("cassandra")
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=30)
    cluster = Cluster([cassandra_service.host], port=cassandra_service.port,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile}, protocol_version=5,
                      auth_provider=cassandra_service.auth_provider())
    sess = cluster.connect(cassandra_service.keyspace)
    yield sess
    cluster.shutdown()


def _table_options(session, keyspace: str) -> dict:
    rows = session.execute(
        "SELECT table_name, default_time_to_live, gc_grace_seconds, compaction "
        "FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,))
    return {r.table_name: r for r in rows}


def test_schema_tables_ttl_and_compaction(session, cassandra_service):
    tables = _table_options(session, cassandra_service.keyspace)
    expected = {"reads_by_plate", "reads_by_camera_day", "reads_by_id", "plate_groups", "alerts",
                "dead_letters", "hotlist", "hotlist_meta"}
    assert expected <= set(tables), sorted(tables)
    for name in TTL_TABLES:
        t = tables[name]
        assert t.default_time_to_live == 31_536_000, name
        assert t.compaction["class"].endswith("TimeWindowCompactionStrategy"), name
        assert t.compaction["compaction_window_unit"] == "DAYS"
        assert t.compaction["compaction_window_size"] == "14"
        assert 0 < t.gc_grace_seconds <= 86_400
    assert tables["dead_letters"].default_time_to_live > 0
    assert tables["hotlist"].default_time_to_live == 0
    assert tables["hotlist_meta"].default_time_to_live == 0


def test_reads_by_camera_day_clusters_newest_first(session, cassandra_service):
    cols = {r.column_name: r for r in session.execute(
        "SELECT column_name, kind, clustering_order, position FROM system_schema.columns "
        "WHERE keyspace_name = %s AND table_name = 'reads_by_camera_day'", (cassandra_service.keyspace,))}
    assert cols["camera_id"].kind == "partition_key" and cols["day"].kind == "partition_key"
    assert cols["read_ts"].kind == "clustering" and cols["read_ts"].clustering_order == "desc"
    assert cols["read_id"].kind == "clustering" and cols["read_id"].position == 1


def test_schema_reapply_is_idempotent(cassandra_service, monkeypatch):
    for k, v in cassandra_service.credentials("alpr_admin").items():  # DDL: the admin role (infra/svcauth.py)
        monkeypatch.setenv(k, v)
    svcctl = _svcctl()
    text = svcctl.render_schema(SCHEMA.read_text(), keyspace=cassandra_service.keyspace)
    assert svcctl.cassandra_schema(cassandra_service.host, cassandra_service.port, text) == 9


def test_insert_using_ttl_expires_and_default_ttl_applies(session):
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    month = now.strftime("%Y-%m")
    ins = session.prepare(
        "INSERT INTO reads_by_plate (plate, month, read_ts, read_id, camera_id, agency, capture_ts, confidence, "
        "coordinates, candidates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?")
    ins_default = session.prepare(
        "INSERT INTO reads_by_plate (plate, month, read_ts, read_id, camera_id, agency, capture_ts, confidence) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    ts = now.timestamp()
    session.execute(ins, ("TTL2TEST", month, now, "r-short", "cam1", "pd", ts, 91.5,
                          [(1.0, 2.0), (3.0, 4.0)], [("TTL2TEST", 91.5), ("TTL2TES7", 80.0)], 2))
    session.execute(ins_default, ("TTL2TEST", month, now, "r-default", "cam1", "pd", ts, 88.0))
    sel = "SELECT read_id, TTL(camera_id) AS ttl, coordinates, candidates FROM reads_by_plate " \
          "WHERE plate = 'TTL2TEST' AND month = %s"
    rows = {r.read_id: r for r in session.execute(sel, (month,))}
    assert set(rows) == {"r-short", "r-default"}
    assert 0 < rows["r-short"].ttl <= 2
    assert list(rows["r-short"].coordinates) == [(1.0, 2.0), (3.0, 4.0)]
    assert list(rows["r-short"].candidates)[0] == ("TTL2TEST", 91.5)
    assert 31_536_000 - 60 < rows["r-default"].ttl <= 31_536_000
    time.sleep(3)
    rows = {r.read_id for r in session.execute(sel, (month,))}
    assert rows == {"r-default"}
