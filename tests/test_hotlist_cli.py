"""`alpr hotlist match|import` via register() on a local ArgumentParser."""

import argparse
import io
import json
import shutil
from pathlib import Path

import pytest

from alpr.connectors.stores.sqlite import SqliteStore
from alpr.app.hotlist_cli import register
from alpr.governance.roles import PLATFORM_AGENCY

from cli_accounts import CliAccounts

DATA = Path(__file__).parent / "data" / "hotlists"


def run(argv):
    p = argparse.ArgumentParser(prog="alpr")
    register(p.add_subparsers(dest="cmd"))
    args = p.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    rc = args.func(args, out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def test_match_json_one_object_per_plate():
    rc, out, err = run(["hotlist", "match", "--hotlist", str(DATA / "openalpr.csv"), "--json",
                        "ABC123", "A8C123", "NSK357", "ZZZ999"])
    assert rc == 0
    objs = [json.loads(line) for line in out.splitlines()]
    assert [o["plate"] for o in objs] == ["ABC123", "A8C123", "NSK357", "ZZZ999"]
    h0 = objs[0]["hits"][0]
    assert {k: h0[k] for k in ("entry", "list", "match_type", "distance")} == {
        "entry": "ABC123", "list": "HOT", "match_type": "exact", "distance": 0}
    assert objs[1]["hits"] == []  # ABC-123 is marked exact: A8C123 (OCR-equivalent) does not hit it
    assert objs[2]["hits"][0]["entry"] == "S*K3*7" and objs[2]["hits"][0]["match_type"] == "wildcard"
    assert objs[3]["hits"] == []
    assert "line 8: rejected: personal data" in err


def test_match_text_and_ncic_format():
    rc, out, _ = run(["hotlist", "match", "--hotlist", str(DATA / "ncic.txt"), "--format", "ncic", "CDO123", "NONE1"])
    assert rc == 0
    assert out.splitlines()[0].startswith("CDO123: CD0123 [P] exact distance=0")
    assert out.splitlines()[1] == "NONE1: no hits"


@pytest.fixture
def accounts(tmp_path, monkeypatch):
    return CliAccounts(tmp_path, monkeypatch)


def test_import_replace_incremental_and_errors(tmp_path, accounts):
    db = tmp_path / "h.db"
    rc, out, err = run(["hotlist", "import", str(DATA / "ncic.txt"), "--format", "ncic", "--list", "V",
                        "--store", f"sqlite:{db}", *accounts.as_(PLATFORM_AGENCY, "platform", feed=True)])
    assert rc == 0 and "accepted=2" in out and "written=2" in out and "agency=none (state feed)" in out, err
    assert "line 5: rejected: unknown NCIC list code 'Q'" in err
    with SqliteStore(db) as s:
        assert sorted(e.plate for e in s.load_entries()) == ["AB123456", "GH7777"]
    local = tmp_path / "local.csv"  # the agency's own list: no agency/source/shared_with/entry_id columns
    local.write_text("plate,list_code,state,description,case_number,expires_at,action\n"
                     "8ABC123,LOCAL,CA,Silver sedan,23-0001,2030-01-01T00:00:00Z,add\n"
                     "7DEF456,LOCAL,CA,Old entry,,2030-01-01,remove\n"
                     "4JKL012,LOCAL,XX,bad state,23-0005,2030-01-01,add\n")
    rc, out, err = run(["hotlist", "import", str(local), "--list", "LOCAL", "--incremental",
                        "--store", f"sqlite:{db}", *accounts.as_(case="C-2024-0042")])
    assert rc == 0 and "removals=1" in out and "agency=DHSPD" in out, err
    with SqliteStore(db) as s:
        entries = {e.plate: e for e in s.load_entries()}
    assert sorted(entries) == ["8ABC123", "AB123456", "GH7777"]
    assert (entries["8ABC123"].agency, entries["8ABC123"].case_number) == ("DHSPD", "23-0001")
    assert entries["AB123456"].agency == ""
    # a file that sets the owner, the source or the sharing is refused as a whole
    rc, _, err = run(["hotlist", "import", str(DATA / "native.csv"), "--list", "LOCAL", "--incremental",
                      "--store", f"sqlite:{db}", *accounts.as_()])
    assert rc == 2 and "column(s) agency, source, shared_with, entry_id refused" in err
    truncated = tmp_path / "svs.tbl"
    shutil.copy(DATA / "svs_truncated.tbl", truncated)
    rc, _, err = run(["hotlist", "import", str(truncated), "--list", "svs", "--store", f"sqlite:{db}",
                      *accounts.as_(PLATFORM_AGENCY, "platform", feed=True)])
    assert rc == 1 and "TOTAL RECORD 3 but 2 rows" in err
    rc, _, err = run(["hotlist", "import", str(tmp_path / "missing.csv"), "--list", "X", "--store", f"sqlite:{db}",
                      "--user", "nobody"])
    assert rc == 2 and "cannot read hotlist file" in err
    # every import is in the access log with its list, counts, purpose and case, and no plate
    done = accounts.records("hotlist_import")
    assert [(r.outcome, r.data_elements["list_code"]) for r in done] == [
        ("allowed", "V"), ("allowed", "LOCAL"), ("denied", "LOCAL"), ("denied", "svs")]
    assert done[1].purpose_code == "STOLEN-VEHICLE" and done[1].case_number == "C-2024-0042"
    assert done[1].data_elements["written"] == 1 and done[1].agency == "DHSPD"
    assert not any(p in repr(r) for r in done for p in ("8ABC123", "AB123456", "GH7777", "7DEF456"))


def test_import_applies_per_list_matching_defaults(tmp_path, accounts):
    """State feeds import exact-only, other lists OCR-equivalent only (the <0.1 % fuzzy setting)."""
    store = f"sqlite:{tmp_path}/h.db"
    for argv in (["hotlist", "import", str(DATA / "ncic.txt"), "--format", "ncic", "--list", "V", "--store", store,
                  *accounts.as_(PLATFORM_AGENCY, "platform", feed=True)],
                 ["hotlist", "import", str(DATA / "openalpr.csv"), "--list", "LOCAL", "--store", store,
                  *accounts.as_()],
                 ["hotlist", "import", str(DATA / "openalpr.csv"), "--list", "WIDE", "--matching", "fuzzy",
                  "--store", store, *accounts.as_()]):
        rc, out, err = run(argv)
        assert rc == 0, out + err
    by_list = {}
    for e in SqliteStore(f"{tmp_path}/h.db").load_entries():
        by_list.setdefault(e.list_code, set()).add((e.fuzzy, e.max_ocr_subs, e.max_edits))
    assert by_list["V"] == {(False, 0, 0)}
    assert by_list["LOCAL"] == {(True, 1, 0)}
    assert by_list["WIDE"] == {(True, 1, 1)}


def test_import_needs_a_login_a_purpose_and_a_case_and_agencies_cannot_import_state_feeds(tmp_path, accounts):
    store = f"sqlite:{tmp_path}/h.db"
    base = ["hotlist", "import", str(DATA / "openalpr.csv"), "--list", "LOCAL", "--store", store]
    rc, _, err = run([*base, *accounts.login()])  # no purpose code, no case number
    assert rc == 2 and "purpose code is required" in err
    rc, _, err = run([*base, *accounts.login(), "--purpose", "STOLEN-VEHICLE"])
    assert rc == 2 and "case or incident number is required" in err
    rc, _, err = run([*base, "--user", accounts.account(), "--totp", "000000", "--purpose", "STOLEN-VEHICLE",
                      "--case", "C-1234"])
    assert rc == 2 and "invalid username, password or MFA code" in err
    rc, _, err = run(["hotlist", "import", str(DATA / "ncic.txt"), "--format", "ncic", "--list", "V",
                      "--store", store, *accounts.as_()])
    assert rc == 2 and "NCIC files are state feeds" in err
    rc, _, err = run([*base, *accounts.as_(role="administrator", feed=True)])
    assert rc == 2 and "platform data" in err
    rc, _, err = run([*base, *accounts.as_(PLATFORM_AGENCY, "platform")])  # a platform account owns no list
    assert rc == 2 and "may not manage_hotlist" in err
    with SqliteStore(f"{tmp_path}/h.db") as s:
        assert s.load_entries() == []
    refused = [r for r in accounts.gov.store.access_records() if r.outcome == "denied" and r.channel == "cli"]
    assert len(refused) >= 5
