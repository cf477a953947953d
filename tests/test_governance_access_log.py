"""Civ. Code 1798.90.52 access log: contents, append-only, hash chain verification."""

import json
import sqlite3

import pytest

from alpr.governance.access_log import record_hash, verify_chain
from alpr.governance.search import SearchCriteria

from governance_helpers import Clock, add_user, bootstrap, make_gov, seed_reads


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


# --------------------------------------------------------------------------- mirror attached late
# Governance.build publishes the packaged policy (record 1) before a mirror set on ``gov.log``
# afterwards sees anything: the mirror must start with the primary's records, not shift them.
def _late_mirror(tmp_path):
    from alpr.governance.store_sqlite import SqliteGovernanceStore

    gov = make_gov(Clock(), db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"))
    assert [r.action for r in gov.store.access_records()] == ["policy_publish"]
    mirror = SqliteGovernanceStore(str(tmp_path / "mirror.db"))
    gov.log.mirrors = (mirror,)
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "u.operator", "operator")
    seed_reads(gov)
    for i in range(3):
        gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", f"C-24-{i:03d}", None, channel="api")
    return gov, mirror


def _cli_verify(tmp_path, capsys) -> tuple[int, dict]:
    from alpr.app.cli import main as alpr_main

    rc = alpr_main(["audit", "verify", "--gov-db", str(tmp_path / "gov.db"), "--read-store",
                    f"sqlite:{tmp_path / 'reads.db'}", "--mirror", "--access-log-mirror",
                    f"sqlite:{tmp_path / 'mirror.db'}"])
    return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_mirror_attached_to_a_log_with_records_holds_the_primary_records(tmp_path, capsys):
    gov, mirror = _late_mirror(tmp_path)
    assert mirror.access_records() == gov.store.access_records()  # same seq, prev_hash and MAC
    assert mirror.access_head() == gov.store.access_head()
    n = len(mirror.access_records())
    gov.close()
    rc, rep = _cli_verify(tmp_path, capsys)
    assert rc == 0 and rep["mirrors"] == [{"ok": True, "checked": n, "first_bad_seq": None, "reason": ""}]


def test_catching_up_a_mirror_does_not_launder_its_tampering(tmp_path, capsys):
    gov, mirror = _late_mirror(tmp_path)
    n = len(mirror.access_records())
    mirror.connection.execute("DROP TRIGGER access_log_no_delete")
    mirror.connection.execute("DELETE FROM access_log WHERE seq = ?", (n // 2,))
    gov.log.record(username="u.operator", agency="DHSPD", action="search_reads", purpose_code="AUDIT")
    gov.close()
    for _ in range(2):  # the verifier's own (mirrored) record does not repair it either
        rc, rep = _cli_verify(tmp_path, capsys)
        assert rc == 1 and rep["ok"] is True
        assert rep["mirrors"][0]["ok"] is False and rep["mirrors"][0]["first_bad_seq"] == n // 2


def test_a_forked_mirror_is_not_caught_up(tmp_path):
    """A mirror whose history is not the primary's keeps its own slots: the comparison names it."""
    from alpr.governance.access_log import AccessLog, compare_stores
    from alpr.governance.store_sqlite import SqliteGovernanceStore

    gov, _ = _late_mirror(tmp_path)
    forked = SqliteGovernanceStore(str(tmp_path / "forked.db"))
    AccessLog(forked, key=gov.log.key).record(username="ghost", agency="DHSPD", action="search_reads")
    gov.log.mirrors = (forked,)
    gov.log.record(username="u.operator", agency="DHSPD", action="search_reads", purpose_code="AUDIT")
    assert [r.username for r in forked.access_records()] == ["ghost", "u.operator"]
    rep = compare_stores(gov.store, forked)
    assert not rep.ok and rep.first_bad_seq == 1
    gov.close()


def test_the_api_and_console_verify_compare_the_primary_with_the_mirror(tmp_path):
    """``Governance.verify_for`` (GET /api/audit/verify, the console's audit screen): the chain and,
    record by record, every configured mirror; an edited mirror record makes the answer not ok."""
    gov = make_gov(db_path=str(tmp_path / "g.db"), read_path=str(tmp_path / "r.db"),
                   access_log_mirror=f"sqlite:{tmp_path / 'm.db'}")
    admin, _ = bootstrap(gov)
    aud, _ = add_user(gov, admin, "aud.a", "auditor")
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    seed_reads(gov)
    gov.search.search(op, SearchCriteria(plate_pattern="7ABC*"), "STOLEN-VEHICLE", "C-24-001")
    rep = gov.verify_for(aud)
    assert rep["ok"] and rep["chain_ok"] and [m["ok"] for m in rep["mirrors"]] == [True]
    c = sqlite3.connect(str(tmp_path / "m.db"), isolation_level=None)
    c.execute("DROP TRIGGER IF EXISTS access_log_no_update")
    c.execute("UPDATE access_log SET detail = 'edited in the mirror' WHERE seq = 3")
    c.close()
    rep = gov.verify_for(aud, channel="ui")
    assert rep["chain_ok"] is True and rep["ok"] is False
    assert rep["mirrors"][0]["ok"] is False and rep["mirrors"][0]["first_bad_seq"] == 3
    last = [r for r in gov.store.access_records() if r.action == "verify_chain"][-1]
    assert last.data_elements["ok"] is False and last.data_elements["mirrors_ok"] is False and last.channel == "ui"
    from alpr.governance.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        gov.verify_for(op)
    gov.close()
