"""Issue 12 item 1, the CLI half of the tenancy matrix: every `alpr` command is either run by agency B
against agency A's data (the test named in CLI_AGENCY_MATRIX) or listed as a system/no-data command
with its reason; `hotlist import`, `alerts tail` and `go-live` as agency B."""

import json
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CLI_TEST = "test_governance_cli.py"
HERE = Path(__file__).name


# the test named runs the command as agency B on agency A's data
CLI_AGENCY_MATRIX = {
    "users create": f"{CLI_TEST}::test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused",
    "users approve": f"{CLI_TEST}::test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused",
    "users train": f"{CLI_TEST}::test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused",
    "users suspend": f"{CLI_TEST}::test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused",
    "users unlock": f"{CLI_TEST}::test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused",
    "users reenrol": f"{CLI_TEST}::test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused",
    "users list": f"{CLI_TEST}::test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused",
    "evidence export": f"{CLI_TEST}::test_every_agency_scoped_cli_command_of_agency_b_on_agency_a_data_is_refused",
    "hotlist import": f"{HERE}::test_agency_b_cannot_import_into_or_replace_agency_a_hotlists",
    "alerts tail": f"{HERE}::test_alerts_tail_needs_a_login_and_shows_only_the_callers_agency",
    "go-live status": f"{HERE}::test_go_live_acts_on_the_callers_agency_only",
    "go-live start": f"{HERE}::test_go_live_acts_on_the_callers_agency_only",
    "go-live meeting": f"{HERE}::test_go_live_acts_on_the_callers_agency_only",
    **{f"agreements {c}": f"{HERE}::test_agreements_of_agency_a_are_invisible_and_untouchable_to_agency_b"
       for c in ("list", "show", "propose", "approve", "reject", "revoke")},
}
CLI_SYSTEM_COMMANDS = {
    "read": "recognises plates in image files the caller passes; reads and writes no stored data",
    "demo": "runs the pipeline on generated vehicles into its own --out folder",
    "synth": "writes a synthetic clip (generated plates) to a folder",
    "run": "the pipeline process itself (an operator's deployment step): writes each camera's reads "
           "under the camera's agency; no user acts through it",
    "gateway": "camera gateway: publishes one camera's frames under the agency it is configured for",
    "hotlist match": "matches plates against a local file the caller passes; touches no store",
    "serve": "starts the API and console, whose every route is in the API/console A-vs-B matrix "
             "(tests/test_hardening_tenancy.py)",
    "audit verify": "operator check of the whole chain; prints ok/checked/anchors, no agency's records",
    "audit anchor": "operator job: signs the access-log head; prints its sequence number and hash",
    "maintenance run": "system job (cron): retention purge, share expiry, audit sampling for every agency",
    "users bootstrap": "installation step with write access to the governance database; refused once the "
                       "agency has an administrator",
    "users enrol": "acts only on the account its one-time token names (its holder sets their password)",
    "users suspend-inactive": "system job: suspends idle accounts of every agency, prints their names",
    "metrics serve": "the process's Prometheus counters (no plates, no records)",
    "metrics list": "prints the metric catalogue (names, types, help texts)",
    "metrics check": "dashboard/rule consistency with the exported metric names",
}


def _alpr_commands() -> set[str]:
    import argparse

    from alpr.app.cli import build_parser

    def leaves(p, prefix=()):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    yield from leaves(sub, prefix + (name,))
                return
        yield " ".join(prefix)

    return set(leaves(build_parser()))


def test_every_alpr_command_is_in_the_agency_matrix_or_a_listed_system_command():
    commands = _alpr_commands()
    assert not set(CLI_AGENCY_MATRIX) & set(CLI_SYSTEM_COMMANDS)
    unlisted = commands - set(CLI_AGENCY_MATRIX) - set(CLI_SYSTEM_COMMANDS)
    assert not unlisted, f"add these commands to the A-vs-B matrix or the system list (with a reason): {unlisted}"
    assert not (set(CLI_AGENCY_MATRIX) | set(CLI_SYSTEM_COMMANDS)) - commands, "listed commands that do not exist"
    for command, ref in CLI_AGENCY_MATRIX.items():
        path, name = ref.split("::")
        assert re.search(rf"^def {name}\(", (TESTS / path).read_text(), re.M), f"{command}: no test {ref}"
    assert all(len(reason) > 20 for reason in CLI_SYSTEM_COMMANDS.values())


def _alpr(*argv) -> tuple[int, str, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from alpr.app.cli import main as alpr_main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = alpr_main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def test_agency_b_cannot_import_into_or_replace_agency_a_hotlists(tmp_path, monkeypatch):
    from cli_accounts import CliAccounts
    from governance_helpers import HOME, OTHER

    from alpr.connectors.stores.sqlite import SqliteStore

    acc = CliAccounts(tmp_path, monkeypatch)
    store = ["--store", f"sqlite:{tmp_path / 'h.db'}", "--no-publish"]

    def write(name, text):
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    a_file = write("a.csv", "Plate Number,Description,Match Strategy\n7AAA111,stolen,exact\n7AAA222,stolen,exact\n")
    rc, out, err = _alpr("hotlist", "import", a_file, "--list", "HOT", *store, *acc.as_(HOME))
    assert rc == 0 and "written=2" in out, err
    with SqliteStore(tmp_path / "h.db") as s:
        a_before = {e.entry_id: e for e in s.load_entries()}
    attempts = [  # (argv, expected exit status, what agency B tries)
        (["hotlist", "import", write("b.csv", "Plate Number,Description,Match Strategy\n7BBB111,stolen,exact\n"),
          "--list", "HOT", "--replace"], 0, "replace 'its' HOT list: A's HOT list stays"),
        (["hotlist", "import", write("empty.csv", "Plate Number,Description,Match Strategy\n"), "--list", "HOT",
          "--replace"], 0, "empty replacement of HOT"),
        (["hotlist", "import", write("rm.csv", "plate,list_code,action\n7AAA111,HOT,remove\n7AAA222,HOT,remove\n"),
          "--list", "HOT", "--incremental"], 0, "remove A's plates"),
        (["hotlist", "import", write("own.csv", "plate,list_code,agency\n7BBB222,HOT,DHSPD\n"), "--list", "HOT"],
         2, "set A as the entries' agency"),
        (["hotlist", "import", write("shr.csv", "plate,list_code,shared_with\n7BBB333,HOT,DHSPD\n"), "--list", "HOT"],
         2, "share into A"),
        (["hotlist", "import", a_file, "--list", "HOT", "--feed"], 2, "agency-less list for every agency"),
    ]
    for argv, expected, what in attempts:
        rc, out, err = _alpr(*argv, *store, *acc.as_(OTHER, "administrator" if "--feed" in argv else "operator"))
        assert rc == expected, (what, rc, out, err)
    with SqliteStore(tmp_path / "h.db") as s:
        after = {e.entry_id: e for e in s.load_entries()}
    assert {i: e for i, e in after.items() if e.agency == HOME} == a_before, "agency A's list changed"
    assert {e.agency for e in after.values()} == {HOME}  # B's own entries were replaced by its empty file
    b_records = [r for r in acc.records("hotlist_import") if r.agency == OTHER]
    assert [r.outcome for r in b_records] == ["allowed", "allowed", "allowed", "denied", "denied", "denied"]
    assert all("7AAA" not in repr(r) and "7BBB" not in repr(r) for r in acc.records("hotlist_import"))


def _fake_alerts_topic(monkeypatch, alerts) -> None:
    """``alpr alerts tail`` against an in-memory topic (the consumer is replaced, nothing else)."""
    import alpr.connectors.kafka_cli as kafka_cli

    class Msg:
        def __init__(self, value, offset):
            self._value, self._offset = value, offset

        def error(self):
            return None

        def value(self):
            return self._value

        def offset(self):
            return self._offset

    class Consumer:
        def __init__(self):
            self.msgs = [Msg(a.to_json().encode(), i) for i, a in enumerate(alerts)]

        def poll(self, timeout):
            return self.msgs.pop(0) if self.msgs else None

        def close(self):
            pass

    monkeypatch.setattr(kafka_cli, "_tail_consumer", lambda *a, **k: Consumer())


def test_alerts_tail_needs_a_login_and_shows_only_the_callers_agency(tmp_path, monkeypatch):
    from cli_accounts import CliAccounts
    from governance_helpers import HOME, OTHER, alert

    acc = CliAccounts(tmp_path, monkeypatch)
    alerts = [alert("a1", HOME, "7ABC123"), alert("b1", OTHER, "5QRS777"), alert("a2", HOME, "8XYZ999")]
    tail = ["alerts", "tail", "--read-store", f"sqlite:{tmp_path / 'r.db'}", "--idle-timeout", "0"]
    _fake_alerts_topic(monkeypatch, alerts)
    rc, out, err = _alpr(*tail, *acc.as_(OTHER, purpose="HOTLIST-HIT"))
    assert rc == 0, err
    assert "5QRS777" in out and "7ABC123" not in out and "8XYZ999" not in out and HOME not in out
    _fake_alerts_topic(monkeypatch, alerts)
    rc, out, err = _alpr(*tail, "--json", *acc.as_(HOME, purpose="HOTLIST-HIT"))
    assert rc == 0 and [json.loads(line)["alert_id"] for line in out.splitlines()] == ["a1", "a2"], err
    # no purpose code, or no valid login: refused before anything is read, and logged
    _fake_alerts_topic(monkeypatch, alerts)
    rc, out, err = _alpr(*tail, *acc.login(OTHER))
    assert rc == 2 and "purpose code is required" in err and out == ""
    rc, out, err = _alpr(*tail, "--user", acc.account(OTHER), "--totp", "000000", "--purpose", "HOTLIST-HIT",
                         "--case", "C-1234")
    assert rc == 2 and out == ""
    ends = [r for r in acc.records("alerts_tail") if r.data_elements.get("phase") == "end"]
    assert [(r.agency, r.data_elements["alert_ids"]) for r in ends] == [(OTHER, ["b1"]), (HOME, ["a1", "a2"])]
    assert all(r.purpose_code == "HOTLIST-HIT" for r in ends)
    assert not any(p in repr(r) for r in acc.records("alerts_tail") for p in ("5QRS777", "7ABC123"))
    assert any(r.agency == OTHER and r.outcome == "denied" and r.action == "view_alerts"
               for r in acc.gov.store.access_records())


def test_go_live_acts_on_the_callers_agency_only(tmp_path, monkeypatch):
    from cli_accounts import CliAccounts
    from governance_helpers import HOME, OTHER

    acc = CliAccounts(tmp_path, monkeypatch)
    acc.admin(HOME), acc.admin(OTHER)
    a_meeting = acc.gov.store.get_public_meeting(HOME)
    common = ["--gov-db", acc.db, "--read-store", f"sqlite:{tmp_path / 'r.db'}"]
    rc, out, err = _alpr("go-live", "status", *common, *acc.login(OTHER, "administrator"))
    assert rc == 0 and json.loads(out)["agency"] == OTHER and HOME not in out, err
    rc, out, err = _alpr("go-live", "meeting", "--date", "2024-02-01", "--body", "Palm Springs City Council",
                         "--agenda-item", "Item 9", "--minutes", "https://example.org/ps", *common,
                         *acc.login(OTHER, "administrator"))
    assert rc in (0, 2) and HOME not in out, err
    assert acc.gov.store.get_public_meeting(HOME) == a_meeting  # there is no way to name agency A
    rc, _, err = _alpr("go-live", "start", *common, *acc.login(OTHER, "operator"))
    assert rc == 2 and "may not publish_policy" in err


def test_agreements_of_agency_a_are_invisible_and_untouchable_to_agency_b(tmp_path, monkeypatch):
    """A's hotlist agreement with a third agency: B's administrator and designee get for it exactly
    what they get for a missing agreement, cannot propose one in A's name, and see none in a list."""
    from cli_accounts import CliAccounts
    from governance_helpers import HOME, OTHER

    from alpr.governance.registry import curated

    acc = CliAccounts(tmp_path, monkeypatch)
    acc.admin(OTHER)
    acc.gov.store.put_agency(curated("CCPD"))
    home, third = acc.admin(HOME), acc.admin("CCPD")
    now = __import__("time").time()
    made = [acc.gov.agreements.propose(home, owner_agency=HOME, partner_agency="CCPD", document_ref=f"MOU-{n}",
                                       start_ts=now - 60, expires_ts=now + 86_400) for n in (1, 2)]
    approved = acc.gov.agreements.review(third, made[0].agreement_id, True)
    before = acc.gov.store.list_agreements()
    common = ["--gov-db", acc.db, "--read-store", f"sqlite:{tmp_path / 'r.db'}"]
    for role in ("administrator", "designee"):
        for argv in (("show",), ("approve",), ("reject",), ("revoke", "--reason", "x")):
            answers = []
            for agreement_id in (approved.agreement_id if argv[0] != "approve" else made[1].agreement_id,
                                 "zz-no-agreement"):
                rc, out, err = _alpr("agreements", argv[0], "--id", agreement_id, *argv[1:], *common,
                                     *acc.login(OTHER, role))
                answers.append((rc, out, err.replace(agreement_id, "<id>")))
            assert answers[0] == answers[1] and answers[0][0] == 2, (role, argv, answers)  # no existence oracle
            assert HOME not in answers[0][2] and "CCPD" not in answers[0][2]
        rc, out, err = _alpr("agreements", "list", *common, *acc.login(OTHER, role))
        assert rc == 0 and out == "", err
    rc, out, err = _alpr("agreements", "propose", "--owner", HOME, "--partner", "CCPD", "--document", "MOU-X",
                         "--start", str(now - 60), "--expires", str(now + 86_400), *common,
                         *acc.login(OTHER, "administrator"))
    assert rc == 2 and "to which it is a party" in err
    rc, _, err = _alpr("agreements", "list", *common, *acc.login(OTHER, "operator"))
    assert rc == 2 and "may not manage_agreements" in err
    assert acc.gov.store.list_agreements() == before  # nothing of A moved
    denied = [r for r in acc.gov.store.access_records() if r.agency == OTHER and r.outcome == "denied"
              and r.action.startswith(("agreement_", "manage_agreements"))]
    assert len(denied) >= 9
    assert not [r for r in acc.gov.store.access_records() if r.agency == OTHER and r.outcome == "allowed"
                and r.data_elements.get("agreement_id") in {a.agreement_id for a in before}]
