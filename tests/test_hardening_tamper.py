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


def _copy(db, copy) -> None:
    """The database and the deployment's anchor file beside it (the log expects anchors)."""
    shutil.copy(db, copy)
    shutil.copy(f"{db}.anchors.jsonl", f"{copy}.anchors.jsonl")


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
    _copy(db, copy)
    rc, rep = _verify(copy, reads, capsys)
    assert rc == 0 and rep["ok"] is True and rep["checked"] == n


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_audit_verify_detects_tampering(clean_db, tmp_path, capsys, op, position):
    db, reads, n = clean_db
    copy = tmp_path / "gov.db"
    _copy(db, copy)
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
    _copy(db, copy)
    c = _attacker(copy)
    c.execute("DELETE FROM access_log WHERE seq = ?", (n,))
    c.execute("UPDATE access_log_head SET seq = seq + 5")
    c.close()
    rc, rep = _verify(copy, reads, capsys)
    assert rc == 1 and rep["ok"] is False


# ---------------------------------------------------------------------------------------------
# Issue 12 item 3: the four attacks of the tester's report, replayed against the keyed chain,
# the anchors and the mirror. The attacker can write every file of the deployment except the
# audit key (never in the database) and the auditor's own copy of the anchor file.
import hashlib  # noqa: E402

from alpr.governance.access_log import canonical_json  # noqa: E402


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    d = tmp_path_factory.mktemp("tamper-mirror")
    gov = make_gov(Clock(), db_path=str(d / "gov.db"), read_path=str(d / "reads.db"),
                   access_log_mirror=f"sqlite:{d / 'mirror.db'}")
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "u.operator", "operator")
    seed_reads(gov)
    for i in range(6):
        gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", f"C-24-{i:03d}", None, channel="api")
    n = len(gov.store.access_records())
    key = gov.log.key
    gov.close()
    auditor_copy = d / "auditor-anchors.jsonl"
    shutil.copy(d / "gov.db.anchors.jsonl", auditor_copy)  # the auditor's copy, off the server
    return d, n, key, auditor_copy


def _deploy(mirrored, tmp_path):
    d, n, key, auditor_copy = mirrored
    for name in ("gov.db", "gov.db.anchors.jsonl", "mirror.db", "reads.db"):
        shutil.copy(d / name, tmp_path / name)
    return tmp_path, n, auditor_copy


def _verify_full(tmp, capsys, *extra) -> tuple[int, dict]:
    rc = alpr_main(["audit", "verify", "--gov-db", str(tmp / "gov.db"), "--read-store", f"sqlite:{tmp / 'reads.db'}",
                    "--mirror", "--access-log-mirror", f"sqlite:{tmp / 'mirror.db'}", *extra])
    return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _plain_hash(row: dict) -> str:
    """What the tester's script computed: SHA-256 over the record (it has no audit key)."""
    body = {k: v for k, v in row.items() if k != "hash"}
    body["data_elements"] = json.loads(body["data_elements"])
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _rechain(c, start: int) -> None:
    """Recompute every hash from ``start`` on and move the stored head to the new last record."""
    prev = GENESIS_HASH if start == 1 else c.execute("SELECT hash FROM access_log WHERE seq = ?",
                                                     (start - 1,)).fetchone()[0]
    last = start - 1
    for (seq,) in c.execute("SELECT seq FROM access_log WHERE seq >= ? ORDER BY seq", (start,)).fetchall():
        row = _row(c, seq)
        row["prev_hash"] = prev
        h = _plain_hash(row)
        c.execute("UPDATE access_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev, last = h, seq
    c.execute("UPDATE access_log_head SET seq = ?, hash = ?", (last, prev))


def test_untampered_deployment_verifies_with_anchors_and_mirror(mirrored, tmp_path, capsys):
    tmp, n, auditor_copy = _deploy(mirrored, tmp_path)
    rc, rep = _verify_full(tmp, capsys, "--anchors", str(auditor_copy))
    assert rc == 0 and rep["ok"] is True and rep["checked"] == n
    assert rep["anchors_checked"] == n, "every record was anchored (audit_anchor_every = 1)"
    assert rep["mirrors"] == [{"ok": True, "checked": n, "first_bad_seq": None, "reason": ""}]


def test_attack_edit_with_every_hash_and_the_head_recomputed(mirrored, tmp_path, capsys):
    tmp, n, _ = _deploy(mirrored, tmp_path)
    seq = n // 2
    c = _attacker(tmp / "gov.db")
    c.execute("UPDATE access_log SET case_number = 'C-FORGED' WHERE seq = ?", (seq,))
    _rechain(c, seq)
    c.close()
    rc, rep = _verify_full(tmp, capsys)
    assert rc == 1 and rep["ok"] is False
    assert rep["first_bad_seq"] == seq and "MAC" in rep["reason"]


def test_attack_delete_with_renumbering(mirrored, tmp_path, capsys):
    tmp, n, _ = _deploy(mirrored, tmp_path)
    seq = n // 2
    c = _attacker(tmp / "gov.db")
    c.execute("DELETE FROM access_log WHERE seq = ?", (seq,))
    for s in range(seq + 1, n + 1):
        c.execute("UPDATE access_log SET seq = seq - 1 WHERE seq = ?", (s,))
    _rechain(c, seq)
    c.close()
    rc, rep = _verify_full(tmp, capsys)
    assert rc == 1 and rep["ok"] is False and rep["first_bad_seq"] == seq


def test_attack_tail_truncation_with_the_head_moved(mirrored, tmp_path, capsys):
    tmp, n, auditor_copy = _deploy(mirrored, tmp_path)
    keep = n - 3
    c = _attacker(tmp / "gov.db")
    c.execute("DELETE FROM access_log WHERE seq > ?", (keep,))
    h = c.execute("SELECT hash FROM access_log WHERE seq = ?", (keep,)).fetchone()[0]
    c.execute("UPDATE access_log_head SET seq = ?, hash = ?", (keep, h))
    c.close()
    rc, rep = _verify_full(tmp, capsys)
    assert rc == 1 and rep["ok"] is False and rep["first_bad_seq"] == keep + 1
    assert "anchored record" in rep["reason"] and "tail cut" in rep["reason"]
    # the attacker also cuts the server's anchor file: the auditor's copy still catches it
    lines = (tmp / "gov.db.anchors.jsonl").read_text().splitlines()[:keep]
    (tmp / "gov.db.anchors.jsonl").write_text("\n".join(lines) + "\n")
    rc, rep = _verify_full(tmp, capsys, "--anchors", str(auditor_copy))
    assert rc == 1 and rep["first_bad_seq"] == keep + 1


def test_attack_forged_anchor_is_refused(mirrored, tmp_path, capsys):
    """Cutting the tail and writing a new, unsigned-by-the-key checkpoint for the new head."""
    tmp, n, _ = _deploy(mirrored, tmp_path)
    c = _attacker(tmp / "gov.db")
    c.execute("DELETE FROM access_log WHERE seq = ?", (n,))
    h = c.execute("SELECT hash FROM access_log WHERE seq = ?", (n - 1,)).fetchone()[0]
    c.execute("UPDATE access_log_head SET seq = ?, hash = ?", (n - 1, h))
    c.close()
    lines = (tmp / "gov.db.anchors.jsonl").read_text().splitlines()[:n - 1]
    forged = json.loads(lines[-1])
    forged.update(seq=n, hash=h)  # re-label an old checkpoint: its signature no longer matches
    (tmp / "gov.db.anchors.jsonl").write_text("\n".join(lines + [json.dumps(forged)]) + "\n")
    rc, rep = _verify_full(tmp, capsys)
    assert rc == 1 and "bad signature" in rep["reason"]


def test_attack_divergence_between_primary_and_mirror(mirrored, tmp_path, capsys):
    """Primary cut back and its anchors deleted: its own chain checks out, the mirror does not agree."""
    tmp, n, _ = _deploy(mirrored, tmp_path)
    c = _attacker(tmp / "gov.db")
    c.execute("DELETE FROM access_log WHERE seq > ?", (n - 2,))
    h = c.execute("SELECT hash FROM access_log WHERE seq = ?", (n - 2,)).fetchone()[0]
    c.execute("UPDATE access_log_head SET seq = ?, hash = ?", (n - 2, h))
    c.close()
    (tmp / "gov.db.anchors.jsonl").unlink()
    rc, rep = _verify_full(tmp, capsys)
    assert rc == 1 and rep["ok"] is False and "anchors expected but missing" in rep["reason"]
    m = rep["mirrors"][0]
    assert m["ok"] is False and m["first_bad_seq"] == n - 1 and "mirror has 2 more" in m["reason"]
    # an edited mirror record (the primary intact) is named record by record
    tmp2 = tmp_path / "second"
    tmp2.mkdir()
    tmp2, _, _ = _deploy(mirrored, tmp2)
    c = _attacker(tmp2 / "mirror.db")
    c.execute("UPDATE access_log SET detail = 'edited in the mirror' WHERE seq = 3")
    c.close()
    rc, rep = _verify_full(tmp2, capsys)
    m = rep["mirrors"][0]
    assert rc == 1 and m["ok"] is False and m["first_bad_seq"] == 3 and "MAC" in m["reason"]


def test_audit_key_is_not_in_the_database(mirrored):
    d, _, key, _ = mirrored
    blob = (d / "gov.db").read_bytes() + (d / "mirror.db").read_bytes()
    for secret in (key.mac_key, key.sign_seed):
        assert secret not in blob and secret.hex().encode() not in blob


def test_attack_anchor_file_deleted_and_tail_cut(mirrored, tmp_path, capsys):
    """The attacker cuts the tail, moves the head and deletes the server's anchor file (no auditor's
    copy given): the deployment anchors, so a log with records and no checkpoint at all fails."""
    tmp, n, _ = _deploy(mirrored, tmp_path)
    c = _attacker(tmp / "gov.db")
    c.execute("DELETE FROM access_log WHERE seq > ?", (n - 3,))
    h = c.execute("SELECT hash FROM access_log WHERE seq = ?", (n - 3,)).fetchone()[0]
    c.execute("UPDATE access_log_head SET seq = ?, hash = ?", (n - 3, h))
    c.close()
    (tmp / "gov.db.anchors.jsonl").unlink()
    rc = alpr_main(["audit", "verify", "--gov-db", str(tmp / "gov.db"), "--read-store", f"sqlite:{tmp / 'reads.db'}"])
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 1 and rep["ok"] is False and rep["anchors_checked"] == 0
    assert "anchors expected but missing" in rep["reason"] and rep["first_bad_seq"] == 1


def test_a_new_store_without_records_needs_no_anchors(tmp_path):
    """Before the first anchor interval is complete there is nothing to expect yet."""
    from alpr.governance.access_log import AccessLog, verify_chain
    from alpr.governance.keys import AuditKey
    from alpr.governance.store_sqlite import SqliteGovernanceStore

    key, store = AuditKey.from_secret(b"k" * 32), SqliteGovernanceStore(str(tmp_path / "new.db"))
    assert verify_chain(store, key, (), anchors_expected_after=1).ok
    log = AccessLog(store, key=key)
    for _ in range(3):
        log.record(username="u", agency="DHSPD", action="login")
    assert verify_chain(store, key, (), anchors_expected_after=5).ok
    rep = verify_chain(store, key, (), anchors_expected_after=3)
    assert not rep.ok and "anchors expected but missing" in rep.reason
