"""Civ. Code 1798.90.52 access log: contents, append-only, hash chain verification."""

import sqlite3

import pytest

from alpr.governance.access_log import record_hash, verify_chain
from alpr.governance.search import SearchCriteria

from governance_helpers import add_user, bootstrap, make_gov, seed_reads


def _gov_with_log(n_searches=4):
    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    seed_reads(gov)
    for i in range(n_searches):
        gov.search.search(op, SearchCriteria(plate_pattern="7ABC*"), "STOLEN-VEHICLE", f"C-24-{i:03d}")
    return gov, op


def test_search_record_holds_the_1798_90_52_fields():
    gov, op = _gov_with_log(1)
    rec = [r for r in gov.store.access_records() if r.action == "search_reads"][-1]
    assert rec.ts > 0 and rec.username == "ofc.a" and rec.agency == "DHSPD"
    assert rec.data_elements["plate_pattern"] == "7ABC*"
    assert rec.data_elements["result_count"] == 2
    assert rec.purpose_code == "STOLEN-VEHICLE" and rec.case_number == "C-24-000"
    assert rec.channel == "api" and rec.outcome == "allowed"


def test_chain_verifies_and_links_records():
    gov, _ = _gov_with_log()
    recs = gov.store.access_records()
    assert verify_chain(gov.store, gov.log.key).ok
    assert verify_chain(gov.store, gov.log.key).checked == len(recs)
    for a, b in zip(recs, recs[1:]):
        assert b.prev_hash == a.hash and b.seq == a.seq + 1
        assert record_hash(b.body(), gov.log.key) == b.hash


def test_sqlite_refuses_update_and_delete():
    gov, _ = _gov_with_log(1)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        gov.store.connection.execute("UPDATE access_log SET username = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        gov.store.connection.execute("DELETE FROM access_log WHERE seq = 1")


def _drop_triggers(gov):
    c = gov.store.connection
    c.execute("DROP TRIGGER access_log_no_update")
    c.execute("DROP TRIGGER access_log_no_delete")
    return c


def _target(gov):
    return [r for r in gov.store.access_records() if r.action == "search_reads"][1].seq


def test_verify_detects_edited_record():
    gov, _ = _gov_with_log()
    seq = _target(gov)
    _drop_triggers(gov).execute("UPDATE access_log SET case_number = 'C-FAKE' WHERE seq = ?", (seq,))
    rep = verify_chain(gov.store, gov.log.key)
    assert not rep.ok and rep.first_bad_seq == seq and "edited" in rep.reason


def test_verify_detects_deleted_record():
    gov, _ = _gov_with_log()
    seq = _target(gov)
    _drop_triggers(gov).execute("DELETE FROM access_log WHERE seq = ?", (seq,))
    rep = verify_chain(gov.store, gov.log.key)
    assert not rep.ok and rep.first_bad_seq == seq


def test_verify_detects_inserted_record():
    gov, _ = _gov_with_log()
    seq = _target(gov)
    c = _drop_triggers(gov)
    rows = c.execute("SELECT * FROM access_log WHERE seq >= ? ORDER BY seq DESC", (seq,)).fetchall()
    for row in rows:  # shift later rows up by one and insert a forged record at seq
        c.execute("UPDATE access_log SET seq = seq + 1 WHERE seq = ?", (row[0],))
    prev = c.execute("SELECT hash FROM access_log WHERE seq = ?", (seq - 1,)).fetchone()[0]
    body = dict(seq=seq, ts=1.0, username="ghost", agency="DHSPD", action="search_reads", data_elements={},
                purpose_code="STOLEN-VEHICLE", case_number="C-1", channel="api", outcome="allowed", detail="",
                prev_hash=prev)
    import json
    c.execute("INSERT INTO access_log VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
              (seq, 1.0, "ghost", "DHSPD", "search_reads", json.dumps({}), "STOLEN-VEHICLE", "C-1", "api",
               "allowed", "", prev, record_hash(body)))
    rep = verify_chain(gov.store, gov.log.key)
    assert not rep.ok and rep.first_bad_seq == seq  # forged without the audit key: its MAC is wrong


def test_verify_detects_truncated_tail():
    gov, _ = _gov_with_log()
    last = gov.store.access_records()[-1].seq
    _drop_triggers(gov).execute("DELETE FROM access_log WHERE seq = ?", (last,))
    rep = verify_chain(gov.store, gov.log.key)
    assert not rep.ok and rep.first_bad_seq == last


def test_every_refusal_is_logged_too():
    gov, op = _gov_with_log(0)
    with pytest.raises(Exception):
        gov.search.search(op, SearchCriteria(plate_pattern="7ABC*"), None, None, note="investigation")
    rec = gov.store.access_records()[-1]
    assert rec.action == "search_reads" and rec.outcome == "denied" and "purpose code" in rec.detail
