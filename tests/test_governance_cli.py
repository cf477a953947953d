"""CLI: users bootstrap (TOTP secret printed once), audit verify, evidence export (all audited)."""

import re
import sqlite3

from alpr.governance.auth import totp_now
from alpr.governance.cli import main
from alpr.governance.evidence import verify_evidence_zip
from alpr.governance.search import SearchCriteria

from governance_helpers import add_user, make_gov, seed_reads

PW = "a long cli password 123"


def test_bootstrap_verify_and_export(tmp_path, monkeypatch, capsys):
    gov_db, reads_db = str(tmp_path / "gov.db"), str(tmp_path / "reads.db")
    common = ["--gov-db", gov_db, "--read-store", f"sqlite:{reads_db}"]
    monkeypatch.setenv("ALPR_ADMIN_PASSWORD", PW)
    monkeypatch.setenv("ALPR_GOV_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ALPR_GOV_ARGON2_MEMORY_KIB", "8192")
    assert main(["users", "bootstrap", "--username", "chief", "--agency", "DHSPD", *common]) == 0
    out = capsys.readouterr().out
    secret = re.search(r"TOTP secret .*: ([A-Z2-7]+)", out).group(1)
    assert main(["users", "bootstrap", "--username", "chief2", "--agency", "DHSPD", *common]) == 2  # one only

    gov = make_gov(db_path=gov_db, read_path=reads_db)
    admin = gov.store.get_user("chief")
    assert gov.auth.login("chief", PW, totp_now(secret, gov.clock()))[0]  # the printed secret is the MFA seed
    cust, cust_secret = add_user(gov, admin, "rec.c", "custodian")
    seed_reads(gov)
    gov.evidence.place_hold(admin, "C-CLI-1", "robbery", SearchCriteria(plate_pattern="7ABC*"))
    gov.close()

    assert main(["audit", "verify", *common]) == 0
    assert '"ok": true' in capsys.readouterr().out

    monkeypatch.setenv("ALPR_PASSWORD", "correct horse battery staple")
    out_zip = tmp_path / "case.zip"
    assert main(["evidence", "export", "--case", "C-CLI-1", "--out", str(out_zip), "--user", "rec.c",
                 "--totp", totp_now(cust_secret), *common]) == 0
    assert verify_evidence_zip(out_zip) == []

    conn = sqlite3.connect(gov_db)
    rows = conn.execute("SELECT action, channel, username FROM access_log WHERE channel = 'cli'").fetchall()
    assert ("evidence_export", "cli", "rec.c") in rows
    assert any(a == "verify_chain" for a, _, _ in rows)
    conn.execute("DROP TRIGGER access_log_no_update")
    conn.execute("UPDATE access_log SET username = 'x' WHERE seq = 2")
    conn.commit()
    conn.close()
    assert main(["audit", "verify", *common]) == 1


def test_serve_subcommand_starts_the_app(tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", "import sys; from alpr.governance.cli import main; sys.exit(main(sys.argv[1:]))",
           "serve", "--port", str(port), "--gov-db", str(tmp_path / "gov.db"),
           "--read-store", f"sqlite:{tmp_path / 'reads.db'}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, body = time.time() + 30, None
        while time.time() < deadline and body is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/public/policy", timeout=2).read()
            except OSError:
                time.sleep(0.2)
        assert body is not None, proc.stdout.read1().decode() if proc.poll() is not None else "no answer"
        assert b'"version":"461-2024.1"' in body
        login = urllib.request.Request(f"http://127.0.0.1:{port}/api/search", data=b"{}", method="POST",
                                       headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(login, timeout=5)
            raise AssertionError("search without a session must be refused")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_maintenance_run_purges_expired_reads_and_is_audited(tmp_path, capsys):
    import json
    import time

    from alpr.connectors.stores.sqlite import SqliteStore
    from governance_helpers import read

    gov_db, reads_db = str(tmp_path / "gov.db"), str(tmp_path / "reads.db")
    store = SqliteStore(reads_db)
    store.put_reads([read("old1", "1OLD111")], ttl_s=1)
    store.put_reads([read("new1", "2NEW222")], ttl_s=365 * 86_400)
    store.close()
    time.sleep(1.2)
    assert main(["maintenance", "run", "--gov-db", gov_db, "--read-store", f"sqlite:{reads_db}"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_purged"] == 1
    store = SqliteStore(reads_db)
    assert store.read_expiry("old1") is None and store.read_expiry("new1") is not None
    conn = sqlite3.connect(gov_db)
    purges = conn.execute("SELECT data_elements FROM access_log WHERE action = 'purge_expired'").fetchall()
    assert purges and json.loads(purges[-1][0])["rows_purged"] == 1
