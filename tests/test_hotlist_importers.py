"""Hotlist importers: CLEW, NCIC, OpenALPR CSV, native CSV; filters, reports, store apply."""

from pathlib import Path

import pytest

from alpr.connectors.hotlists import (HotlistFormatError, ImportOptions, apply_import, detect_format, load_file,
                                      parse_clew, parse_native, parse_ncic, parse_openalpr, write_native)
from alpr.connectors.stores.sqlite import SqliteStore

DATA = Path(__file__).parent / "data" / "hotlists"
NCIC_SAMPLE = "V123456789LA057020020190509AB123456  CA2009MC2009YAMACYLMCBLK"


def reasons(rep):
    return {r.line_no: r.reason for r in rep.rejected}


def test_clew_layout_header_footer_bad_state_skip_and_dedupe():
    rep = load_file(DATA / "sfr.tbl", opts=ImportOptions(list_code="sfr"))
    assert rep.format == "clew"
    assert [(e.plate, e.state) for e in rep.entries] == [("ABC123", "CA"), ("XYZ999", "CA"), ("7ABC123", "NV")]
    e = rep.entries[0]
    assert e.clets_derived and e.source == "clew" and e.list_name == "Felony Vehicle"
    assert e.description == "Felony Vehicle State: CA County: 01 Lost on: 20180627"
    r = reasons(rep)
    assert "invalid state" in r[5] and "'A0'" in r[5]  # unpadded sample row -> plate ABC123C, state A0
    assert "invalid state" in r[6] and "'ZZ'" in r[6]
    assert "skip list" in r[7]
    assert "duplicate of line 2" in r[8]
    assert rep.rows_read == 7 and rep.errors == []  # footer count matches rows read


def test_clew_footer_count_mismatch_and_missing_footer():
    rep = load_file(DATA / "svs_truncated.tbl", opts=ImportOptions(list_code="svs"))
    assert rep.errors == ["footer says TOTAL RECORD 3 but 2 rows were read"]
    rep2 = parse_clew("DATE07/02/2018 09:00\nABC123  CA0120180627\n", ImportOptions(list_code="svs"))
    assert rep2.errors and "missing" in rep2.errors[0]
    with pytest.raises(HotlistFormatError, match="header"):
        parse_clew("ABC123  CA0120180627\nTOTAL RECORD 0000001\n", ImportOptions(list_code="svs"))


def test_ncic_sample_row_fields():
    rep = parse_ncic(NCIC_SAMPLE + "\n", ImportOptions())
    assert rep.rejected == []
    (e,) = rep.entries
    assert (e.plate, e.state, e.list_code, e.list_name, e.source) == ("AB123456", "CA", "V", "Stolen Vehicle", "ncic")
    for part in ("Year: 2009", "Make: YAMA", "Model: CYL", "Color: BLK", "Date: 20190509"):
        assert part in e.description


def test_ncic_file_header_codes_zero_state_and_rejections():
    rep = load_file(DATA / "ncic.txt")
    assert rep.format == "ncic"
    by_plate = {e.plate: e for e in rep.entries}
    assert by_plate["CD0123"].state == "OH"  # 0H -> OH; plate field itself untouched
    assert "Make: DODG" in by_plate["CD0123"].description
    assert by_plate["GH7777"].state == "CO"
    assert by_plate["WP4321"].list_code == "W"
    r = reasons(rep)
    assert 1 not in r  # header skipped, not rejected
    assert "unknown NCIC list code 'Q'" in r[5]
    assert "bad incident date" in r[6]
    assert "duplicate of line 2" in r[8]
    assert "skip list" in r[9]
    assert "short row" in r[10]


def test_ncic_list_code_selection_and_state_whitelist():
    rep = load_file(DATA / "ncic.txt", "ncic", ImportOptions(list_codes=frozenset({"V"}),
                                                             state_whitelist=frozenset({"CA"})))
    assert [e.plate for e in rep.entries] == ["AB123456"]
    assert rep.skipped_other_lists == 2
    assert any("not in whitelist" in r.reason for r in rep.rejected)


def test_openalpr_csv_rules():
    rep = load_file(DATA / "openalpr.csv", opts=ImportOptions(list_code="HOT"))
    assert rep.format == "openalpr"
    assert [(e.plate, e.match_strategy) for e in rep.entries] == [
        ("ABC123", "exact"), ("7XYZ999", "lenient"), ("S*K3*7", "lenient")]
    assert rep.entries[1].description == "Felony vehicle, armed"
    r = reasons(rep)
    assert "3 '*'" in r[5]
    assert "duplicate of line 2" in r[6]
    assert "skip list" in r[7]
    assert r[8].startswith("personal data (name)")
    assert r[9].startswith("personal data (date of birth)")
    assert r[10].startswith("personal data (address)")
    assert "4 columns" in r[11]
    assert "exact or lenient" in r[12]


def test_native_csv_fields_agency_expiry_incremental_remove():
    rep = load_file(DATA / "native.csv")
    assert rep.format == "csv"
    (e,) = rep.entries
    assert e.plate == "8ABC123" and e.priority == 10 and e.shared_with == ("OPD", "ACSO")
    assert e.expires_at == pytest.approx(1893456000.0) and e.source == "agency"
    assert len(rep.removals) == 1
    r = reasons(rep)
    assert "must have an expiry" in r[3]
    assert "max_ocr_subs" in r[5]
    assert "invalid state" in r[6]
    assert "priority must be an integer" in r[7]


def test_native_csv_personal_data_columns_refused():
    rep = load_file(DATA / "native_pii.csv")
    assert [e.plate for e in rep.entries] == ["1AAA111"]
    (rej,) = rep.rejected
    assert rej.line_no == 3 and rej.reason.startswith("personal data refused")
    assert "dob (date of birth)" in rej.reason and "name (name)" in rej.reason


def test_native_unknown_column_and_round_trip(tmp_path):
    with pytest.raises(HotlistFormatError, match="unknown column"):
        parse_native("plate,list_code,colour_of_sky\nABC123,X,blue\n", ImportOptions())
    rep = load_file(DATA / "native.csv")
    out = tmp_path / "rt.csv"
    with out.open("w") as fh:
        write_native(rep.entries, fh)
    rep2 = load_file(out)
    assert rep2.entries == rep.entries


def test_normalisation_strips_symbols_and_rejects_partial_in_state_feeds():
    rep = parse_openalpr("Plate Number,Description,Match Strategy\n ab-c 1.2 3 ,x,exact\n",
                         ImportOptions(list_code="H"))
    assert rep.entries[0].plate == "ABC123"
    rep = parse_clew("DATE07/02/2018 09:00\nAB*123  CA0120180627\nTOTAL RECORD 0000001\n",
                     ImportOptions(list_code="svs"))
    assert rep.entries == [] and "partial plate" in rep.rejected[0].reason


def test_custom_skip_list():
    opts = ImportOptions(list_code="H", skip_list=("NOPLATE",))
    rep = parse_openalpr("Plate Number,Description,Match Strategy\nNO PLATE,x,exact\n000,y,exact\n", opts)
    assert [e.plate for e in rep.entries] == ["000"]


def test_detect_format():
    assert detect_format("DATE07/02/2018\n") == "clew"
    assert detect_format("Plate Number,Description,Match Strategy\n") == "openalpr"
    assert detect_format("plate,list_code\n") == "csv"
    assert detect_format(NCIC_SAMPLE) == "ncic"
    with pytest.raises(HotlistFormatError):
        detect_format("hello world")


def test_apply_replace_and_incremental_to_sqlite(tmp_path):
    store = SqliteStore(tmp_path / "h.db")
    rep = load_file(DATA / "sfr.tbl", opts=ImportOptions(list_code="sfr"))
    v0 = store.hotlist_version()
    assert apply_import(store, rep, "sfr", "replace") == 3
    assert store.hotlist_version() > v0
    smaller = parse_clew("DATE07/02/2018 09:00\nNEW111  CA0120180627\nTOTAL RECORD 0000001\n",
                         ImportOptions(list_code="sfr"))
    apply_import(store, smaller, "sfr", "replace")
    assert [e.plate for e in store.load_entries()] == ["NEW111"]
    truncated = load_file(DATA / "svs_truncated.tbl", opts=ImportOptions(list_code="sfr"))
    with pytest.raises(HotlistFormatError, match="not applied"):
        apply_import(store, truncated, "sfr", "replace")
    assert [e.plate for e in store.load_entries()] == ["NEW111"]  # truncated file wiped nothing

    add = parse_native("plate,list_code,source,expires_at\n8ABC123,LOCAL,agency,2030-01-01\n"
                       "7DEF456,LOCAL,agency,2030-01-01\n", ImportOptions())
    apply_import(store, add, "LOCAL", "incremental")
    rem = parse_native("plate,list_code,state,source,expires_at,action\n7DEF456,LOCAL,,agency,2030-01-01,remove\n",
                       ImportOptions())
    apply_import(store, rem, "LOCAL", "incremental")
    assert sorted(e.plate for e in store.load_entries()) == ["8ABC123", "NEW111"]
    store.close()


# ---------------------------------------------------------------------------------------------
# Issue 12 item 1: a store import is scoped to (owning agency, list code).
def test_store_import_owner_comes_from_the_caller_never_from_the_file():
    scoped = ImportOptions(list_code="HOT", agency="B", owner_scoped=True, case_number="C-B-1")
    for column, value in (("agency", "A"), ("source", "ncic"), ("shared_with", "A"), ("entry_id", "x1")):
        with pytest.raises(HotlistFormatError, match=f"column\\(s\\) {column} refused"):
            parse_native(f"plate,{column}\n7ABC123,{value}\n", scoped)
    rep = parse_openalpr("Plate Number,Description,Match Strategy\n7ABC123,stolen,exact\n", scoped)
    (e,) = rep.entries
    assert (e.agency, e.source, e.shared_with, e.case_number) == ("B", "csv", (), "C-B-1")
    # the same plate and list code in another agency gets another id
    other = parse_openalpr("Plate Number,Description,Match Strategy\n7ABC123,stolen,exact\n",
                           ImportOptions(list_code="HOT", agency="A", owner_scoped=True))
    assert other.entries[0].entry_id != e.entry_id
    # without owner_scoped (files matched locally, alpr run --hotlist) the native CSV keeps every field
    assert load_file(DATA / "native.csv").entries[0].agency == "SLPD"


def test_apply_import_never_touches_another_agencys_entries(tmp_path):
    store = SqliteStore(tmp_path / "h.db")
    csv_a = "Plate Number,Description,Match Strategy\n7AAA111,stolen,exact\n7AAA222,stolen,exact\n"
    a = parse_openalpr(csv_a, ImportOptions(list_code="HOT", agency="A", owner_scoped=True))
    assert apply_import(store, a, "HOT", "replace", agency="A") == 2
    a_ids = {e.entry_id for e in store.load_entries()}
    # B's full replacement of "its" HOT list, and an empty one, leave A's HOT list alone
    b = parse_openalpr("Plate Number,Description,Match Strategy\n7BBB111,stolen,exact\n",
                       ImportOptions(list_code="HOT", agency="B", owner_scoped=True))
    apply_import(store, b, "HOT", "replace", agency="B")
    apply_import(store, parse_openalpr("Plate Number,Description,Match Strategy\n", ImportOptions(list_code="HOT")),
                 "HOT", "replace", agency="B")
    assert {e.entry_id for e in store.load_entries()} == a_ids
    # entries owned by someone else than the scope are refused; so is an agency entry with a feed source
    with pytest.raises(HotlistFormatError, match="owned by another agency"):
        apply_import(store, a, "HOT", "replace", agency="B")
    ncic = parse_ncic(NCIC_SAMPLE + "\n", ImportOptions(agency="B", owner_scoped=True))
    with pytest.raises(HotlistFormatError, match="state-feed source"):
        apply_import(store, ncic, "V", "replace", agency="B")
    # an incremental removal naming A's entry id from B's import removes nothing
    rem = parse_openalpr("Plate Number,Description,Match Strategy\n", ImportOptions(list_code="HOT"))
    rem.removals.extend(sorted(a_ids))
    assert apply_import(store, rem, "HOT", "incremental", agency="B") == 0
    assert {e.entry_id for e in store.load_entries()} == a_ids
    # an id already used by another agency's entry refuses the whole import
    from dataclasses import replace
    clash = parse_openalpr("Plate Number,Description,Match Strategy\n", ImportOptions(list_code="HOT"))
    clash.entries.append(replace(a.entries[0], agency="B", plate="7BBB999"))
    with pytest.raises(HotlistFormatError, match="already used"):
        apply_import(store, clash, "HOT", "incremental", agency="B")
    assert {e.entry_id for e in store.load_entries()} == a_ids
    store.close()
