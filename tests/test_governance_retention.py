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
