"""`alpr hotlist match|import` via register() on a local ArgumentParser."""

import argparse
import io
import json
import shutil
from pathlib import Path

from alpr.connectors.stores.sqlite import SqliteStore
from alpr.app.hotlist_cli import register

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


def test_import_replace_incremental_and_errors(tmp_path):
    db = tmp_path / "h.db"
    rc, out, err = run(["hotlist", "import", str(DATA / "ncic.txt"), "--format", "ncic", "--list", "V",
                        "--store", f"sqlite:{db}"])
    assert rc == 0 and "accepted=2" in out and "written=2" in out
    assert "line 5: rejected: unknown NCIC list code 'Q'" in err
    with SqliteStore(db) as s:
        assert sorted(e.plate for e in s.load_entries()) == ["AB123456", "GH7777"]
    rc, out, err = run(["hotlist", "import", str(DATA / "native.csv"), "--list", "LOCAL", "--incremental",
                        "--store", f"sqlite:{db}"])
    assert rc == 0 and "removals=1" in out
    with SqliteStore(db) as s:
        assert sorted(e.plate for e in s.load_entries()) == ["8ABC123", "AB123456", "GH7777"]
    truncated = tmp_path / "svs.tbl"
    shutil.copy(DATA / "svs_truncated.tbl", truncated)
    rc, _, err = run(["hotlist", "import", str(truncated), "--list", "svs", "--store", f"sqlite:{db}"])
    assert rc == 1 and "TOTAL RECORD 3 but 2 rows" in err
    rc, _, err = run(["hotlist", "import", str(tmp_path / "missing.csv"), "--list", "X", "--store", f"sqlite:{db}"])
    assert rc == 2 and "cannot read hotlist file" in err


def test_import_applies_per_list_matching_defaults(tmp_path):
    """State feeds import exact-only, other lists OCR-equivalent only (the <0.1 % fuzzy setting)."""
    import argparse

    from alpr.connectors.stores.sqlite import SqliteStore
    from alpr.app.hotlist_cli import register

    data = Path(__file__).parent / "data" / "hotlists"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="cmd"))
    store = f"sqlite:{tmp_path}/h.db"
    for argv in (["hotlist", "import", str(data / "ncic.txt"), "--format", "ncic", "--list", "V", "--store", store],
                 ["hotlist", "import", str(data / "openalpr.csv"), "--list", "LOCAL", "--store", store],
                 ["hotlist", "import", str(data / "openalpr.csv"), "--list", "WIDE", "--matching", "fuzzy",
                  "--store", store]):
        args = parser.parse_args(argv)
        assert args.func(args, out=io.StringIO(), err=io.StringIO()) == 0
    by_list = {}
    for e in SqliteStore(f"{tmp_path}/h.db").load_entries():
        by_list.setdefault(e.list_code, set()).add((e.fuzzy, e.max_ocr_subs, e.max_edits))
    assert by_list["V"] == {(False, 0, 0)}
    assert by_list["LOCAL"] == {(True, 1, 0)}
    assert by_list["WIDE"] == {(True, 1, 1)}
