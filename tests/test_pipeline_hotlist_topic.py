"""Live hotlists through Kafka: hotlist writes become HotlistChange records on the compacted
hotlist topic (key = entry id, tombstone on removal), and a snapshot rebuilt from the topic
matches what the store holds."""
import argparse
import io
import uuid

import pytest

from alpr.connectors.auth import with_credentials  # SASL/SCRAM (ALPR_KAFKA__SASL_*)
from alpr.connectors.kafka_hotlist import (PublishingHotlistStore, change_message, hotlist_change_from_message,
                                           removals, upserts)
from alpr.connectors.stores import open_store
from alpr.pipelines.core.matching import HotlistSnapshot
from alpr.records import HotlistChange, HotlistEntry, SchemaError

E1 = HotlistEntry("e1", "ABC123", "V", source="ncic")
E2 = HotlistEntry("e2", "XYZ789", "V", source="ncic")


def test_messages_round_trip_and_tombstones():
    (up,) = upserts([E1], "import", ts=5.0)
    key, value = change_message(up)
    assert key == b"e1" and hotlist_change_from_message(key, value) == up
    (rm,) = removals(["e1"], ts=6.0)
    key, value = change_message(rm)
    assert value is None and hotlist_change_from_message(key, value, ts=6.0) == rm
    # a bare entry is its upsert; a key that disagrees with the entry, or a keyless tombstone, is refused
    assert hotlist_change_from_message(b"e2", E2.to_json().encode()).entry == E2
    with pytest.raises(SchemaError, match="does not match"):
        hotlist_change_from_message(b"zz", value=change_message(up)[1])
    with pytest.raises(SchemaError, match="without a key"):
        hotlist_change_from_message(None, None)
    with pytest.raises(SchemaError):
        HotlistChange("upsert", "e9", None)


class _Recorder:
    def __init__(self):
        self.changes = []

    def publish(self, changes):
        self.changes += list(changes)
        return len(changes)


def test_publishing_store_publishes_what_the_store_accepted(tmp_path):
    store = open_store(f"sqlite:{tmp_path}/h.db")
    rec = _Recorder()
    pub = PublishingHotlistStore(store, rec)
    pub.replace_list("V", [E1, E2])
    pub.replace_list("V", [E1])                 # the daily full load dropped e2
    pub.upsert_entries([HotlistEntry("e3", "QRS456", "F")])
    pub.remove_entries(["e3"])
    assert [(c.op, c.entry_id) for c in rec.changes] == [
        ("upsert", "e1"), ("upsert", "e2"), ("upsert", "e1"), ("remove", "e2"), ("upsert", "e3"), ("remove", "e3")]
    snap = HotlistSnapshot().apply_all(rec.changes)
    assert sorted(e.entry_id for e in snap.entries()) == sorted(e.entry_id for e in store.load_entries()) == ["e1"]
    store.close()


def _cli(argv):
    """``alpr hotlist import`` logs an account in (its agency owns the entries) and needs a purpose
    code and a case number: callers add ``CliAccounts.as_()`` (tests/cli_accounts.py)."""
    from alpr.app.hotlist_cli import register

    p = argparse.ArgumentParser(prog="alpr")
    register(p.add_subparsers(dest="cmd"))
    args = p.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    return args.func(args, out=out, err=err), out.getvalue(), err.getvalue()


@pytest.mark.services
def test_alpr_hotlist_import_publishes_to_the_compacted_topic(kafka_service, tmp_path, monkeypatch):
    from confluent_kafka.admin import AdminClient, ConfigResource

    from alpr.connectors.kafka_hotlist import read_hotlist_changes
    from cli_accounts import CliAccounts

    accounts = CliAccounts(tmp_path, monkeypatch)
    topic = f"hotlist-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("ALPR_KAFKA__BOOTSTRAP", kafka_service.bootstrap)
    monkeypatch.setenv("ALPR_KAFKA__HOTLIST_TOPIC", topic)
    monkeypatch.setenv("ALPR_STORE", f"sqlite:{tmp_path}/h.db")
    day1, day2 = tmp_path / "day1.csv", tmp_path / "day2.csv"
    day1.write_text("plate,list_code,description\nABC123,SV,stolen\nXYZ789,SV,stolen\nKLM456,SV,stolen\n")
    day2.write_text("plate,list_code,description\nABC123,SV,stolen\nKLM456,SV,recovered? still listed\n")
    rc, out, err = _cli(["hotlist", "import", str(day1), "--list", "SV", "--publish", *accounts.as_()])
    assert rc == 0, err
    assert "written=3" in out and f"published=3 topic={topic}" in out
    rc, out, err = _cli(["hotlist", "import", str(day2), "--list", "SV", "--publish", *accounts.as_()])
    assert rc == 0 and "published=3" in out, out + err  # 2 upserts + 1 tombstone
    admin = AdminClient(with_credentials({"bootstrap.servers": kafka_service.bootstrap}))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    assert admin.describe_configs([res])[res].result(timeout=10)["cleanup.policy"].value == "compact"
    changes = read_hotlist_changes(kafka_service.bootstrap, topic)
    assert [(c.op, c.entry.plate if c.entry else None) for c in changes][-3:] == [
        ("upsert", "ABC123"), ("upsert", "KLM456"), ("remove", None)]
    snap = HotlistSnapshot().apply_all(changes)
    store = open_store(f"sqlite:{tmp_path}/h.db")
    assert sorted(e.plate for e in snap.entries()) == sorted(e.plate for e in store.load_entries()) == \
        ["ABC123", "KLM456"]
    store.close()
    # without --publish (and no kafka source/flink runner configured) nothing is published
    rc, out, _ = _cli(["hotlist", "import", str(day1), "--list", "SV", *accounts.as_()])
    assert rc == 0 and "published=" not in out
    assert [r.outcome for r in accounts.records("hotlist_import")] == ["allowed"] * 3
    assert len(read_hotlist_changes(kafka_service.bootstrap, topic)) == len(changes)


@pytest.mark.services
def test_alpr_hotlist_import_writes_to_a_configured_cassandra_store(cassandra_service, tmp_path, monkeypatch):
    from cli_accounts import CliAccounts

    accounts = CliAccounts(tmp_path, monkeypatch)
    spec = f"cassandra://{cassandra_service.host}:{cassandra_service.port}/{cassandra_service.keyspace}"
    monkeypatch.setenv("ALPR_STORE", spec)
    code = f"C{uuid.uuid4().hex[:6].upper()}"
    f = tmp_path / "list.csv"
    f.write_text(f"plate,list_code,description\nCAS111,{code},stolen\nCAS222,{code},stolen\n")
    rc, out, err = _cli(["hotlist", "import", str(f), "--list", code, "--no-publish", *accounts.as_()])
    assert rc == 0 and "written=2" in out and "agency=DHSPD" in out, out + err
    store = open_store(spec)
    try:
        mine = [e for e in store.load_entries() if e.list_code == code]
        assert sorted(e.plate for e in mine) == ["CAS111", "CAS222"] and {e.agency for e in mine} == {"DHSPD"}
    finally:
        store.close()
