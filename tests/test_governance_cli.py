"""CLI: users bootstrap (TOTP secret printed once), audit verify, evidence export (all audited)."""

import re

import pytest
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
    __import__("governance_helpers").go_live(gov, admin)
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


# ---------------------------------------------------------------------------------------------
# Issue 12 items 1 and 8: the `alpr users` CLI, and every agency-scoped CLI command of agency B
# against agency A's data. Each CLI call logs its --user in; a TOTP code is accepted once, so each
# call uses a code of a step that account has not used yet (now, then the next step).
import json  # noqa: E402
import time  # noqa: E402

HOLDER_PW = "the holder's own long password"


class CliEnv:
    def __init__(self, tmp_path, monkeypatch, capsys):
        self.capsys = capsys
        self.common = ["--gov-db", str(tmp_path / "gov.db"), "--read-store", f"sqlite:{tmp_path / 'reads.db'}"]
        monkeypatch.setenv("ALPR_GOV_ARGON2_TIME_COST", "1")
        monkeypatch.setenv("ALPR_GOV_ARGON2_MEMORY_KIB", "8192")
        monkeypatch.setenv("ALPR_PASSWORD", "correct horse battery staple")
        self.gov = make_gov(db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"))
        self.secrets, self.steps = {}, {}

    def add(self, admin, username, role):
        u, s = add_user(self.gov, admin, username, role)
        self.secrets[username] = s
        return u

    def code(self, username) -> str:
        """A code of a time step ``username`` has not used yet (at most two per 30 s step)."""
        n = self.steps.get(username, 0)
        self.steps[username] = n + 1
        assert n < 2, "use another account: only the current and the next code are valid"
        return totp_now(self.secrets[username], time.time() + 30 * n)

    def run(self, *argv, user=None) -> tuple[int, str, str]:
        extra = ["--user", user, "--totp", self.code(user)] if user else []
        rc = main([*argv, *extra, *self.common])
        cap = self.capsys.readouterr()
        return rc, cap.out, cap.err


def test_alpr_users_cli_lifecycle_create_enrol_approve_train_suspend_unlock(tmp_path, monkeypatch, capsys):
    env = CliEnv(tmp_path, monkeypatch, capsys)
    gov = env.gov
    admin, secret = __import__("governance_helpers").bootstrap(gov)
    env.secrets[admin.username] = secret
    env.add(admin, "sgt.one", "designee")
    env.add(admin, "sgt.two", "designee")
    env.add(admin, "sgt.three", "designee")
    rc, out, _ = env.run("users", "create", "--username", "ofc.cli", "--role", "operator", user=admin.username)
    assert rc == 0 and "one-time enrolment link" in out
    link = re.search(r"token=(\S+)", out).group(1)
    monkeypatch.setenv("ALPR_NEW_PASSWORD", HOLDER_PW)
    rc, out, _ = env.run("users", "enrol", "--token", link)
    assert rc == 0
    holder_secret = re.search(r"TOTP secret \(shown once\): ([A-Z2-7]+)", out).group(1)
    assert env.run("users", "enrol", "--token", link)[0] == 2  # one-time
    rc, _, err = env.run("users", "approve", "--username", "ofc.cli", user=admin.username)
    assert rc == 2 and "two-person rule" in err and "bootstrap --role designee" in err  # its creator
    assert gov.store.get_user("ofc.cli").status == "pending"
    assert env.run("users", "approve", "--username", "ofc.cli", user="sgt.three")[0] == 0
    assert env.run("users", "train", "--username", "ofc.cli", "--course", "ALPR operator", user="sgt.one")[0] == 0
    assert gov.auth.training_current("ofc.cli", time.time() + 1) and gov.store.get_user("ofc.cli").status == "active"
    # the holder logs in with their own password and secret; a replay of the code is refused
    code = totp_now(holder_secret)
    assert gov.auth.login("ofc.cli", HOLDER_PW, code)[0]
    with pytest.raises(Exception):
        gov.auth.login("ofc.cli", HOLDER_PW, code)
    for _ in range(gov.settings.max_failed_logins):
        with pytest.raises(Exception):
            gov.auth.login("ofc.cli", "wrong password!!", "000000")
    assert gov.store.get_user("ofc.cli").locked_until
    assert env.run("users", "unlock", "--username", "ofc.cli", user="sgt.one")[0] == 0
    assert gov.store.get_user("ofc.cli").locked_until is None
    assert env.run("users", "suspend", "--username", "ofc.cli", "--reason", "review", user="sgt.two")[0] == 0
    assert gov.store.get_user("ofc.cli").status == "suspended"
    rc, out, _ = env.run("users", "list", user="sgt.two")
    assert rc == 0 and "ofc.cli\tDHSPD\toperator\tsuspended" in out
    cli_actions = {r.action for r in gov.store.access_records() if r.channel == "cli" and r.outcome == "allowed"}
    assert {"user_create", "user_enrol", "user_approve", "training_record", "user_unlock", "user_suspend",
            "user_list"} <= cli_actions


def test_an_enrolment_link_works_on_the_command_line_whatever_random_bytes_it_has(tmp_path, monkeypatch, capsys):
    """URL-safe base64 begins with '-' once in 64 tokens; argparse then read `--token -X...` as a
    missing value and enrolment failed (seen in CI). The random part is forced to begin with '-'."""
    import secrets as _secrets
    env = CliEnv(tmp_path, monkeypatch, capsys)
    admin, secret = __import__("governance_helpers").bootstrap(env.gov)
    env.secrets[admin.username] = secret
    real = _secrets.token_urlsafe
    monkeypatch.setattr(_secrets, "token_urlsafe", lambda n=32: "-" + real(n)[1:])
    rc, out, _ = env.run("users", "create", "--username", "ofc.dash", "--role", "operator", user=admin.username)
    assert rc == 0
    link = re.search(r"token=(\S+)", out).group(1)
    assert link[1] == "-"  # the random part does begin with a dash
    monkeypatch.setenv("ALPR_NEW_PASSWORD", HOLDER_PW)
    rc, out, _ = env.run("users", "enrol", "--token", link)
    assert rc == 0 and "TOTP secret (shown once)" in out


def test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused(tmp_path, monkeypatch, capsys):
    import pytest as _pytest  # noqa: F401
    from governance_helpers import OTHER, bootstrap

    env = CliEnv(tmp_path, monkeypatch, capsys)
    gov = env.gov
    a_admin, a_secret = bootstrap(gov)
    a_op = env.add(a_admin, "a.operator", "operator")
    env.add(a_admin, "a.pending", "operator")
    gov.store.put_user(__import__("dataclasses").replace(gov.store.get_user("a.pending"), status="pending"))
    seed_reads(gov)
    gov.evidence.place_hold(a_op, "C-A-HOLD", "robbery", SearchCriteria(plate_pattern="7ABC*"))
    b_admin, b_secret = bootstrap(gov, OTHER)
    env.secrets[b_admin.username] = b_secret
    b_users = [env.add(b_admin, f"b.des{i}", "designee").username for i in range(4)]
    b_cust = env.add(b_admin, "b.custodian", "custodian").username
    before = {u.username: u for u in gov.store.list_users("DHSPD")}
    actors = iter([b_admin.username, *b_users, b_admin.username])
    attempts = {
        "approve": ("users", "approve", "--username", "a.pending"),
        "train": ("users", "train", "--username", "a.operator", "--course", "x"),
        "suspend": ("users", "suspend", "--username", "a.operator"),
        "unlock": ("users", "unlock", "--username", "a.operator"),
        "reenrol": ("users", "reenrol", "--username", "a.operator"),
    }
    for what, argv in attempts.items():
        rc, out, err = env.run(*argv, user=next(actors))
        # another agency's account answers exactly like a missing one: no existence oracle
        assert rc == 2 and f"no user '{argv[argv.index('--username') + 1]}'" in err, (what, rc, out, err)
        assert "DHSPD" not in err, (what, err)
    rc, out, err = env.run("evidence", "export", "--case", "C-A-HOLD", "--out", str(tmp_path / "x.zip"),
                           "--user", b_cust, "--totp", env.code(b_cust))
    assert rc == 2 and "no evidence hold" in err and not (tmp_path / "x.zip").exists()
    rc, out, _ = env.run("users", "list", user=next(actors))
    assert rc == 0 and "a.operator" not in out and "chief.dhspd" not in out and "b.des0" in out
    # nothing of agency A moved, and every refusal is in the access log under agency B
    assert {u.username: u for u in gov.store.list_users("DHSPD")} == before
    denied = [r for r in gov.store.access_records() if r.agency == OTHER and r.outcome == "denied"]
    assert len(denied) >= len(attempts) + 1
    # `users create` always creates in the caller's own agency: there is no way to name agency A
    rc, out, _ = env.run("users", "create", "--username", "b.new", "--role", "operator", user=b_users[0])
    assert rc == 0 and gov.store.get_user("b.new").agency == OTHER
