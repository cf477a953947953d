"""Audits (461.5(c)): sampling, sign-off, report, anomaly flags."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alpr.governance.errors import Conflict, PermissionDenied, ValidationError
from alpr.governance.search import SearchCriteria

from governance_helpers import Clock, add_user, bootstrap, make_gov, seed_reads


@pytest.fixture
def env():
    noon = datetime.now(ZoneInfo("America/Los_Angeles")).replace(hour=12, minute=0, second=0).timestamp()
    clock = Clock(noon)
    gov = make_gov(clock, max_searches_per_day=5)
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    aud, _ = add_user(gov, admin, "aud.a", "auditor")
    seed_reads(gov)
    gov.store.register_case("C-KNOWN", "DHSPD", "rms", clock())
    return gov, clock, op, aud


def _search(gov, op, case="C-KNOWN"):
    gov.search.search(op, SearchCriteria(plate_pattern="7ABC*"), "STOLEN-VEHICLE", case)


def test_sample_review_and_sign_off(env):
    gov, clock, op, aud = env
    start = clock()
    for _ in range(6):
        _search(gov, op)
        clock.advance(60)
    with pytest.raises(PermissionDenied):
        gov.audits.create_sample(op, start, clock())
    audit = gov.audits.create_sample(aud, start, clock(), size=3, seed=1)
    assert len(audit.sample_seqs) == 3
    searches = {r.seq for r in gov.store.access_records() if r.action == "search_reads"}
    assert set(audit.sample_seqs) <= searches
    with pytest.raises(Conflict):
        gov.audits.sign_off(aud, audit.audit_id, "done")
    with pytest.raises(ValidationError):
        gov.audits.record_finding(aud, audit.audit_id, 99999, "ok")
    for seq in audit.sample_seqs[:-1]:
        gov.audits.record_finding(aud, audit.audit_id, seq, "ok")
    gov.audits.record_finding(aud, audit.audit_id, audit.sample_seqs[-1], "concern", "case closed before search")
    signed = gov.audits.sign_off(aud, audit.audit_id, "1 concern referred to the Deputy Chief")
    assert signed.status == "signed" and signed.signed_by == "aud.a"


def test_scheduled_sampling_runs_once_per_interval(env):
    gov, clock, op, aud = env
    _search(gov, op)
    assert gov.audits.run_scheduled() is not None
    assert gov.audits.run_scheduled() is None
    clock.advance(31 * 86_400)
    assert gov.audits.run_scheduled() is not None


def test_report_and_anomalies(env):
    gov, clock, op, aud = env
    start = clock()
    _search(gov, op, "C-UNKNOWN")
    clock.advance(13 * 3600)  # 01:00 local
    _search(gov, op)
    for _ in range(5):
        _search(gov, op)
    report = gov.audits.report(aud, start, clock())
    assert report["searches"] == 7 and report["by_user"] == {"ofc.a": 7}
    assert report["by_purpose"] == {"STOLEN-VEHICLE": 7} and report["by_agency"] == {"DHSPD": 7}
    kinds = [f["kind"] for f in report["anomalies"]]
    assert kinds.count("case-not-found") == 1
    assert kinds.count("unusual-hour") == 6
    assert kinds.count("unusual-volume") == 1


# ---------------------------------------------------------------------------------------------
# Issue 12 item 1: audit samples carry their agency; another agency's auditor cannot touch them.
def test_another_agencys_auditor_cannot_record_findings_or_sign(env):
    from alpr.governance.errors import NotFound
    from governance_helpers import OTHER

    gov, clock, op, aud = env
    start = clock()
    for _ in range(3):
        _search(gov, op)
        clock.advance(60)
    audit = gov.audits.create_sample(aud, start, clock(), size=2, seed=1)
    assert audit.agency == "DHSPD"
    assert all(gov.store.access_records(start_seq=s)[0].agency == "DHSPD" for s in audit.sample_seqs)
    b_admin, _ = bootstrap(gov, OTHER)
    b_aud, _ = add_user(gov, b_admin, "aud.b", "auditor")
    with pytest.raises(NotFound):
        gov.audits.record_finding(b_aud, audit.audit_id, audit.sample_seqs[0], "ok")
    with pytest.raises(NotFound):
        gov.audits.sign_off(b_aud, audit.audit_id, "looks fine")
    assert gov.store.get_audit(audit.audit_id) == audit  # untouched
    assert gov.audits.list_audits(b_aud) == [] and [a.audit_id for a in gov.audits.list_audits(aud)] == [
        audit.audit_id]
    # B's own sample draws only from B's searches (none): empty
    assert gov.audits.create_sample(b_aud, start, clock()).sample_seqs == ()
    denied = [r for r in gov.store.access_records() if r.username == "aud.b" and r.outcome == "denied"]
    assert len(denied) == 2
    with pytest.raises(PermissionDenied):  # audit samples are for roles that read the access log
        gov.audits.list_audits(op)


# ---------------------------------------------------------------------------------------------
# Issue 12 review: a made-up case number was "laundered" into the known cases by using it.
def test_a_made_up_case_number_stays_flagged_after_a_hotlist_entry_and_an_evidence_hold_use_it(env):
    gov, clock, op, aud = env
    start = clock()
    gov.hotlists.add_entry(op, plate="5HOME0*", list_code="LOCAL", case_number="C-FAKE-1", purpose_code="STOLEN-VEHICLE",
                           expires_at=clock() + 86_400, description="white sedan")
    gov.evidence.place_hold(op, "C-FAKE-1", "keep", SearchCriteria(plate_pattern="7ABC*"))
    _search(gov, op, "C-FAKE-1")
    assert "C-FAKE-1" not in gov.store.known_cases("DHSPD")
    flagged = [f for f in gov.audits.anomalies("DHSPD", start, clock() + 1) if f["kind"] == "case-not-found"]
    actions = {gov.store.access_records(start_seq=f["seq"])[0].action for f in flagged}
    assert {"hotlist_add", "hotlist_lookback", "evidence_hold", "search_reads"} <= actions
    # the case list of the records system vouches for a case, even one used before
    gov.store.register_case("C-FAKE-1", "DHSPD", "rms", clock())
    assert "C-FAKE-1" in gov.store.known_cases("DHSPD")
    assert not [f for f in gov.audits.anomalies("DHSPD", start, clock() + 1) if f["kind"] == "case-not-found"]
    gov.store.register_case("C-FAKE-1", "DHSPD", "hotlist", clock())  # a later use does not undo it
    assert "C-FAKE-1" in gov.store.known_cases("DHSPD")


def test_hotlist_imports_are_sampled_like_searches(env):
    """An import is logged as ``hotlist_import`` (governance/hotlist_import.py): audits sample it
    with the searches, so its purpose and case number get reviewed too."""
    gov, clock, op, aud = env
    start = clock()
    _search(gov, op)
    clock.advance(60)
    gov.guard.log.record(username=op.username, agency=op.agency, action="hotlist_import",
                         data_elements={"list_code": "LOCAL", "accepted": 3}, purpose_code="STOLEN-VEHICLE",
                         case_number="C-KNOWN", channel="cli")
    clock.advance(60)
    audit = gov.audits.create_sample(aud, start, clock(), size=10, seed=1)
    sampled = {r.seq: r.action for r in gov.store.access_records() if r.seq in set(audit.sample_seqs)}
    assert sorted(sampled.values()) == ["hotlist_import", "search_reads"]
