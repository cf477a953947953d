"""Hardening: ``alpr audit verify`` detects every edit, insertion or deletion of a stored
access-log row, at the first, a middle and the last position.

The attacker has write access to the SQLite file: a second connection drops the append-only
triggers and rewrites rows directly (the product's store is never used for the tampering).
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from alpr.app.cli import main as alpr_main
from alpr.governance.access_log import record_hash
from alpr.governance.store import GENESIS_HASH

from governance_helpers import Clock, add_user, bootstrap, make_gov, seed_reads
from alpr.governance.search import SearchCriteria

COLUMNS = ("seq", "ts", "username", "agency", "action", "data_elements", "purpose_code", "case_number",
           "channel", "outcome", "detail", "prev_hash", "hash")


@pytest.fixture(scope="module")
def clean_db(tmp_path_factory):
    """A governance DB with a real access log (logins, searches, refusals)."""
    d = tmp_path_factory.mktemp("tamper")
    gov = make_gov(Clock(), db_path=str(d / "gov.db"), read_path=str(d / "reads.db"))
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "u.operator", "operator")
    seed_reads(gov)
    for i in range(4):
        gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", f"C-24-{i:03d}", None, channel="api")
    n = len(gov.store.access_records())
    gov.close()
    assert n >= 8
    return d / "gov.db", d / "reads.db", n


def _verify(db, reads, capsys) -> tuple[int, dict]:
    rc = alpr_main(["audit", "verify", "--gov-db", str(db), "--read-store", f"sqlite:{reads}"])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    return rc, json.loads(out)


def _attacker(db) -> sqlite3.Connection:
    c = sqlite3.connect(str(db), isolation_level=None)
    c.execute("DROP TRIGGER IF EXISTS access_log_no_update")
    c.execute("DROP TRIGGER IF EXISTS access_log_no_delete")
    return c


def _row(c, seq: int) -> dict:
    return dict(zip(COLUMNS, c.execute(f"SELECT {','.join(COLUMNS)} FROM access_log WHERE seq = ?", (seq,)).fetchone()))


def _forged(seq: int, prev_hash: str) -> tuple:
    """A self-consistent forged record (its own hash is right) claiming a search happened."""
    body = dict(seq=seq, ts=1.0, username="ghost", agency="DHSPD", action="search_reads", data_elements={},
                purpose_code="STOLEN-VEHICLE", case_number="C-1", channel="api", outcome="allowed", detail="",
                prev_hash=prev_hash)
    return (seq, 1.0, "ghost", "DHSPD", "search_reads", "{}", "STOLEN-VEHICLE", "C-1", "api", "allowed", "",
            prev_hash, record_hash(body))


def edit(c, seq: int, n: int) -> None:
    c.execute("UPDATE access_log SET case_number = 'C-FORGED', username = 'someone.else' WHERE seq = ?", (seq,))


def edit_and_rehash(c, seq: int, n: int) -> None:
    """Edit a row and recompute its own hash: the next row's prev_hash (or the head) exposes it."""
    row = _row(c, seq)
    row["case_number"] = "C-FORGED"
    body = {k: v for k, v in row.items() if k != "hash"}
    body["data_elements"] = json.loads(body["data_elements"])
    c.execute("UPDATE access_log SET case_number = ?, hash = ? WHERE seq = ?", ("C-FORGED", record_hash(body), seq))


def delete(c, seq: int, n: int) -> None:
    c.execute("DELETE FROM access_log WHERE seq = ?", (seq,))


def insert(c, seq: int, n: int) -> None:
    """Insert a forged record *before* ``seq`` (after the last row when seq == n + 1)."""
    for s in range(n, seq - 1, -1):
        c.execute("UPDATE access_log SET seq = seq + 1 WHERE seq = ?", (s,))
    prev = GENESIS_HASH if seq == 1 else c.execute("SELECT hash FROM access_log WHERE seq = ?", (seq - 1,)).fetchone()[0]
    c.execute(f"INSERT INTO access_log VALUES ({','.join('?' * len(COLUMNS))})", _forged(seq, prev))


OPS = {"edit": edit, "edit+rehash": edit_and_rehash, "delete": delete, "insert": insert}


def test_untouched_log_verifies(clean_db, tmp_path, capsys):
    db, reads, n = clean_db
    copy = tmp_path / "gov.db"
    shutil.copy(db, copy)
    rc, rep = _verify(copy, reads, capsys)
    assert rc == 0 and rep["ok"] is True and rep["checked"] == n


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_audit_verify_detects_tampering(clean_db, tmp_path, capsys, op, position):
    db, reads, n = clean_db
    copy = tmp_path / "gov.db"
    shutil.copy(db, copy)
    seq = {"first": 1, "middle": n // 2, "last": n}[position]
    if op == "insert" and position == "last":
        seq = n + 1  # append a forged, correctly chained record after the last one
    c = _attacker(copy)
    OPS[op](c, seq, n)
    c.close()
    rc, rep = _verify(copy, reads, capsys)
    assert rc == 1, f"{op} at {position} (seq {seq}) not detected: {rep}"
    assert rep["ok"] is False and rep["reason"]
    assert rep["first_bad_seq"] is not None and 1 <= rep["first_bad_seq"] <= n + 1
    assert rep["first_bad_seq"] <= seq + 1, "the report must point at (or right after) the tampered row"
    # a second run still fails: the verifier's own log entry does not launder the chain
    rc2, _ = _verify(copy, reads, capsys)
    assert rc2 == 1


def test_head_record_tampering_is_detected(clean_db, tmp_path, capsys):
    db, reads, n = clean_db
    copy = tmp_path / "gov.db"
    shutil.copy(db, copy)
    c = _attacker(copy)
    c.execute("DELETE FROM access_log WHERE seq = ?", (n,))
    c.execute("UPDATE access_log_head SET seq = seq + 5")
    c.close()
    rc, rep = _verify(copy, reads, capsys)
    assert rc == 1 and rep["ok"] is False
