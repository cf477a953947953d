"""infra/cassandra/schema.cql templating (no Cassandra needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "infra" / "cassandra" / "schema.cql"


def _svcctl():
    spec = importlib.util.spec_from_file_location("svcctl", REPO / "infra" / "svcctl.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_render_schema_rejects_bad_values():
    svcctl = _svcctl()
    text = SCHEMA.read_text()
    out = svcctl.render_schema(text, keyspace="alpr_t", retention_s=100,
                               replication="{'class': 'NetworkTopologyStrategy', 'dc1': 3}")
    assert "{keyspace}" not in out and "{retention_s}" not in out and "{replication}" not in out
    assert "CREATE KEYSPACE IF NOT EXISTS alpr_t" in out
    assert "'dc1': 3" in out and "default_time_to_live = 100" in out
    assert len(svcctl.schema_statements(out)) == 9
    with pytest.raises(ValueError):
        svcctl.render_schema(text, keyspace="bad-name")
    with pytest.raises(ValueError):
        svcctl.render_schema(text, retention_s=-1)
    with pytest.raises(ValueError):
        svcctl.render_schema(text, replication="SimpleStrategy")
