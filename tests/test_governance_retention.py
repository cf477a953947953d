"""Retention floor, TTL, audited purge, evidence holds and export (461.4)."""

import json
import time

import pytest

from alpr.connectors.stores.base import ReadQuery
from alpr.governance.errors import PermissionDenied, PolicyViolation
from alpr.governance.evidence import read_zip, verify_evidence_zip
from alpr.governance.search import SearchCriteria

from governance_helpers import add_user, bootstrap, make_gov, read, seed_reads


@pytest.fixture
def env():
    gov = make_gov()
    gov.evidence.image_loader = lambda r: f"JPEG-{r.read_id}".encode()
    admin, _ = bootstrap(gov)
    cust, _ = add_user(gov, admin, "rec.c", "custodian")
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    seed_reads(gov)
    return gov, admin, cust, op


def test_retention_floor_and_ttl(env):
    gov, admin, cust, op = env
    assert gov.ttl_seconds_for("DHSPD") == 365 * 86_400
    with pytest.raises(PolicyViolation, match="365"):
        gov.retention.set_retention(cust, "DHSPD", 364)
    gov.retention.set_retention(cust, "DHSPD", 730)
    assert gov.ttl_seconds_for("DHSPD") == 730 * 86_400
    with pytest.raises(PermissionDenied):
        gov.retention.set_retention(op, "DHSPD", 400)
    with pytest.raises(PermissionDenied):
        gov.retention.set_retention(cust, "PSPD", 400)  # another agency's setting
    denied = [r for r in gov.store.access_records() if r.action == "set_retention" and r.outcome == "denied"]
    assert len(denied) == 3


def test_purge_is_audited_with_row_count(env):
    gov, *_ = env
    gov.reads.put_reads([read("old1", "1OLD111"), read("old2", "1OLD112")], ttl_s=1)
    n = gov.retention.run_purge(now=time.time() + 10)
    assert n == 2
    rec = gov.store.access_records()[-1]
    assert rec.action == "purge_expired" and rec.data_elements["rows_purged"] == 2
    assert gov.reads.read_expiry("old1") is None


def test_evidence_hold_survives_purge_and_exports_with_manifest(env, tmp_path):
    gov, admin, cust, op = env
    gov.reads.put_reads([read("ev1", "6EVD001")], ttl_s=1)
    gov.evidence.place_hold(op, "C-24-500", "shooting suspect vehicle", SearchCriteria(plate_pattern="6EVD*"))
    gov.retention.run_purge(now=time.time() + 10)
    assert gov.reads.search_reads(ReadQuery(plate_pattern="6EVD001")) == []
    with pytest.raises(PermissionDenied):
        gov.evidence.export_evidence(op, "C-24-500", tmp_path / "x.zip")  # operators may not export
    out = tmp_path / "case.zip"
    manifest = gov.evidence.export_evidence(cust, "C-24-500", out)
    assert verify_evidence_zip(out) == []
    files = read_zip(out)
    assert json.loads(files["reads/ev1.json"])["plate"] == "6EVD001"
    assert files["images/ev1.jpg"] == b"JPEG-ev1"
    custody = json.loads(files["custody.json"])
    assert [e["event"] for e in custody["events"]] == ["hold", "export"]
    assert custody["events"][1]["by"] == "rec.c"
    assert {f["path"] for f in manifest["files"]} >= {"reads/ev1.json", "images/ev1.jpg", "custody.json"}
    actions = [r.action for r in gov.store.access_records()]
    assert "evidence_hold" in actions and "evidence_export" in actions


def test_tampered_evidence_zip_is_detected(env, tmp_path):
    gov, admin, cust, op = env
    gov.evidence.place_hold(op, "C-24-501", "robbery", SearchCriteria(plate_pattern="7ABC*"))
    out = tmp_path / "case.zip"
    gov.evidence.export_evidence(cust, "C-24-501", out)
    import zipfile
    files = read_zip(out)
    files["reads/r1.json"] = files["reads/r1.json"].replace(b"7ABC123", b"7ABC999")
    with zipfile.ZipFile(out, "w") as zf:
        for n, b in files.items():
            zf.writestr(n, b)
    assert verify_evidence_zip(out) == ["reads/r1.json: sha256 mismatch"]


# ---------------------------------------------------------------------------------------------
# Issue 12 item 6: expiry from the capture time, the agency's retention on every row, purge
# with back-dated reads.
DAY = 86_400


def _backdated(gov, days_old: float, read_id: str, plate: str, agency: str = "DHSPD"):
    """A read captured ``days_old`` days ago, written today the way the old code did: a fixed
    365-day TTL from the WRITE time (so it would have outlived its retention)."""
    r = read(read_id, plate, agency=agency, ts=time.time() - days_old * DAY)
    gov.reads.put_reads([r], ttl_s=365 * DAY)
    return r


def _ids(gov, user):
    return {r.read_id for r in gov.search.search(user, SearchCriteria(plate_pattern="*"), "STOLEN-VEHICLE",
                                                  "C-24-1", None)}


def test_expiry_runs_from_the_capture_time(env):
    gov, admin, cust, op = env
    _backdated(gov, 400, "old400", "4OLD400")
    _backdated(gov, 300, "old300", "3OLD300")
    assert "old400" not in _ids(gov, op), "a read past its retention is never returned, purged or not"
    assert "old300" in _ids(gov, op)
    n = gov.retention.run_purge()
    assert n >= 1
    assert gov.reads.read_expiry("old400") is None and gov.reads.read_expiry("old300") is not None


def test_the_agency_retention_sets_each_rows_ttl_and_the_pipeline_ttl(env):
    from alpr.connectors.stores.base import ttl_seconds_for
    gov, admin, cust, op = env
    r400 = _backdated(gov, 400, "old400", "4OLD400")
    _backdated(gov, 800, "old800", "8OLD800")
    other = _backdated(gov, 400, "p400", "4PSP400", agency="PSPD")
    gov.retention.set_retention(cust, "DHSPD", 730)
    # the stored row now expires 730 days after its capture; the other agency's row is untouched
    assert abs(gov.reads.read_expiry("old400") - (r400.capture_ts + 730 * DAY)) < 1
    assert abs(gov.reads.read_expiry("p400") - (time.time() + 365 * DAY)) < 60
    assert gov.store.access_records()[-1].data_elements["rows_re_expired"] >= 2
    # what the pipeline's writer gets for a new row of each agency (layer-0/1 function)
    now = time.time()
    cap = now - 10 * DAY
    assert ttl_seconds_for("DHSPD", cap, now, store=gov.reads) == pytest.approx(720 * DAY, abs=1)
    assert ttl_seconds_for("PSPD", cap, now, store=gov.reads) == pytest.approx(355 * DAY, abs=1)
    assert ttl_seconds_for("DHSPD", now - 731 * DAY, now, store=gov.reads) == 0
    assert gov.ttl_seconds_for("DHSPD", cap, now) == pytest.approx(720 * DAY, abs=1)
    gov.retention.run_purge()
    assert gov.reads.read_expiry("old400") is not None  # kept: 400 < 730 days
    assert gov.reads.read_expiry("old800") is None       # purged: 800 > 730 days
    assert gov.reads.read_expiry("p400") is None          # PSPD keeps the 365-day default
    assert other.read_id not in _ids(gov, op)


def test_held_evidence_is_kept_and_the_purge_logs_it(env, tmp_path):
    gov, admin, cust, op = env
    _backdated(gov, 364.99, "ev364", "6EVD364")
    gov.evidence.place_hold(op, "C-24-600", "homicide", SearchCriteria(plate_pattern="6EVD*"))
    n = gov.retention.run_purge(now=time.time() + 2 * DAY)
    assert n >= 1 and gov.reads.read_expiry("ev364") is None  # out of general search
    rec = gov.store.access_records()[-1]
    assert rec.action == "purge_expired" and rec.data_elements["evidence_cases"] == ["C-24-600"]
    assert rec.data_elements["evidence_reads_kept"] == 1
    gov.evidence.export_evidence(cust, "C-24-600", tmp_path / "c.zip")  # still whole
    assert verify_evidence_zip(tmp_path / "c.zip") == []


def test_alpr_maintenance_run_purges_backdated_reads_on_sqlite(tmp_path, capsys):
    from alpr.governance.cli import main
    from governance_helpers import make_gov as mk
    gov = mk(db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"))
    _backdated(gov, 500, "old500", "5OLD500")
    _backdated(gov, 10, "new10", "1NEW010")
    gov.close()
    assert main(["maintenance", "run", "--gov-db", str(tmp_path / "gov.db"),
                 "--read-store", f"sqlite:{tmp_path / 'reads.db'}"]) == 0
    assert json.loads(capsys.readouterr().out)["rows_purged"] == 1
    from alpr.connectors.stores.sqlite import SqliteStore
    s = SqliteStore(str(tmp_path / "reads.db"))
    assert s.read_expiry("old500") is None and s.read_expiry("new10") is not None
    s.close()


def test_two_agencies_hold_the_same_case_number_independently(env, tmp_path):
    """Holds are keyed by (agency, case number): agency B holding a number agency A holds is neither
    refused ("held by another agency" was an existence oracle) nor mixed with A's hold."""
    from governance_helpers import OTHER
    from alpr.governance.errors import NotFound

    gov, admin, cust, op = env
    b_admin, _ = bootstrap(gov, OTHER)
    b_op, _ = add_user(gov, b_admin, "ofc.b", "operator")
    b_cust, _ = add_user(gov, b_admin, "rec.b", "custodian")
    missing = {}
    for case in ("C-24-700", "C-24-799"):  # before B holds anything: A's case answers like an unused one
        with pytest.raises(NotFound) as exc:
            gov.evidence.export_evidence(b_cust, case, tmp_path / "none.zip")
        missing[case] = str(exc.value).replace(case, "<case>")
    assert missing["C-24-700"] == missing["C-24-799"]
    gov.evidence.place_hold(op, "C-24-700", "robbery", SearchCriteria(plate_pattern="7ABC*"))
    gov.evidence.place_hold(b_op, "C-24-700", "stolen car", SearchCriteria(plate_pattern="*"))
    a_hold, b_hold = gov.store.get_hold("DHSPD", "C-24-700"), gov.store.get_hold(OTHER, "C-24-700")
    assert (a_hold.agency, a_hold.reason, b_hold.agency, b_hold.reason) == ("DHSPD", "robbery", OTHER, "stolen car")
    a_zip = gov.evidence.export_evidence(cust, "C-24-700", tmp_path / "a.zip")
    b_zip = gov.evidence.export_evidence(b_cust, "C-24-700", tmp_path / "b.zip")
    reads = lambda m: sorted(f["path"] for f in m["files"] if f["path"].startswith("reads/"))  # noqa: E731
    assert reads(a_zip) == ["reads/r1.json", "reads/r2.json"] and reads(b_zip) == ["reads/r4.json", "reads/r5.json"]
    assert [e["event"] for e in gov.store.get_hold("DHSPD", "C-24-700").custody] == ["hold", "export"]


def test_a_governance_database_with_case_keyed_holds_is_migrated_additively(tmp_path):
    import sqlite3

    from alpr.governance.models import EvidenceHold
    from alpr.governance.store_sqlite import SqliteGovernanceStore, _dump

    path = tmp_path / "gov.db"
    old = sqlite3.connect(path)  # the tables as an earlier version made them
    old.executescript("""
        CREATE TABLE evidence_holds (case_number TEXT PRIMARY KEY, body TEXT NOT NULL);
        CREATE TABLE evidence_items (case_number TEXT NOT NULL, read_id TEXT NOT NULL, read_json TEXT NOT NULL,
            image BLOB, held_ts REAL NOT NULL, held_by TEXT NOT NULL, PRIMARY KEY (case_number, read_id));""")
    hold = EvidenceHold("C-24-1", "DHSPD", "homicide", "ofc.a", 1.0, ({"event": "hold"},))
    old.execute("INSERT INTO evidence_holds VALUES (?,?)", ("C-24-1", _dump(hold)))
    old.execute("INSERT INTO evidence_items VALUES ('C-24-1', 'r1', '{}', NULL, 1.0, 'ofc.a')")
    old.commit()
    old.close()
    for _ in range(2):  # opening twice changes nothing more
        store = SqliteGovernanceStore(path)
        assert store.get_hold("DHSPD", "C-24-1") == hold and store.get_hold("PSPD", "C-24-1") is None
        assert [(i.read_id, i.agency) for i in store.evidence_items("DHSPD", "C-24-1")] == [("r1", "DHSPD")]
        assert store.list_holds() == [hold]
        assert store.connection.execute("SELECT count(*) FROM evidence_holds").fetchone() == (1,)  # kept
        store.close()


def test_listing_evidence_holds_goes_through_the_guard_and_is_logged(env):
    """The console's retention screen lists holds through RetentionService.list_holds: the caller's
    agency's holds only, roles that may place holds only, and every listing (or refusal) logged."""
    from governance_helpers import OTHER

    gov, admin, cust, op = env
    b_admin, _ = bootstrap(gov, OTHER)
    b_op, _ = add_user(gov, b_admin, "ofc.b", "operator")
    gov.evidence.place_hold(op, "C-24-710", "robbery", SearchCriteria(plate_pattern="7ABC*"))
    gov.evidence.place_hold(b_op, "C-24-711", "stolen car", SearchCriteria(plate_pattern="*"))
    assert [h.case_number for h in gov.retention.list_holds(cust, channel="ui")] == ["C-24-710"]
    assert [h.case_number for h in gov.retention.list_holds(b_admin)] == ["C-24-711"]
    listed = [r for r in gov.store.access_records() if r.action == "list_holds"]
    assert [(r.username, r.agency, r.data_elements["count"]) for r in listed] == [
        (cust.username, "DHSPD", 1), (b_admin.username, OTHER, 1)]
    auditor, _ = add_user(gov, admin, "aud.a", "auditor")
    with pytest.raises(PermissionDenied):
        gov.retention.list_holds(auditor)
    denied = [r for r in gov.store.access_records() if r.username == auditor.username and r.outcome == "denied"]
    assert denied and denied[-1].action == "evidence_hold"
