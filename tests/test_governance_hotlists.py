"""Agency hotlist entries (461.3(c); State Auditor F2, F7)."""

import time

import pytest

from alpr.governance.errors import PermissionDenied, ValidationError

from governance_helpers import add_user, bootstrap, make_gov, seed_reads

DAY = 86_400
PC = "VIOLENT-CRIME"


@pytest.fixture
def env():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    aud, _ = add_user(gov, admin, "aud.a", "auditor")
    seed_reads(gov)
    return gov, op, aud


def test_partial_plate_with_case_and_expiry(env):
    gov, op, _ = env
    entry, _ = gov.hotlists.add_entry(op, plate="7ab*", list_code="MAJOR", case_number="C-24-900", purpose_code=PC,
                                      expires_at=time.time() + 7 * DAY, description="white sedan, shooting")
    assert entry.plate == "7AB*" and entry.is_wildcard and entry.source == "agency" and entry.agency == "DHSPD"
    assert [e.entry_id for e in gov.hotlists.list_entries(op)] == [entry.entry_id]
    assert "C-24-900" not in gov.store.known_cases("DHSPD")  # a number used is not a case known to exist


def test_case_number_and_expiry_mandatory(env):
    gov, op, _ = env
    base = dict(plate="7AB*", list_code="MAJOR", description="", purpose_code=PC)
    with pytest.raises(ValidationError, match="case"):
        gov.hotlists.add_entry(op, case_number="", expires_at=time.time() + DAY, **base)
    with pytest.raises(ValidationError, match="expiry"):
        gov.hotlists.add_entry(op, case_number="C-1X", expires_at=None, **base)
    with pytest.raises(ValidationError, match="at most"):
        gov.hotlists.add_entry(op, case_number="C-1X", expires_at=time.time() + 60 * DAY, **base)
    with pytest.raises(ValidationError, match="personal"):
        gov.hotlists.add_entry(op, case_number="C-1X", expires_at=time.time() + DAY,
                               **{**base, "description": "owner DOB 01/02/1980"})


def test_clets_derived_entries_are_marked(env):
    gov, op, _ = env
    entry, _ = gov.hotlists.add_entry(op, plate="8XYZ999", list_code="SVS", case_number="CLETS-1234", purpose_code=PC,
                                      expires_at=time.time() + DAY, clets_derived=True)
    stored = [e for e in gov.hotlist_store.load_entries() if e.entry_id == entry.entry_id][0]
    # only a flag: the entry stays the agency's own (a "clets" source would make it global)
    assert stored.clets_derived and stored.source == "agency" and stored.agency == "DHSPD"


def test_a_clets_derived_entry_added_over_the_api_alerts_only_on_its_own_agencys_cameras():
    """Issue 12 review: ``clets_derived`` made an agency entry global and unredacted. Replayed through
    the API and the engine-neutral match stage that both engines run."""
    import warnings

    from alpr.pipelines.core.grouping import build_group
    from alpr.pipelines.core.matching import HotlistSnapshot, MatchStage
    from core_helpers import read
    from governance_helpers import HOME, OTHER, login

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from fastapi.testclient import TestClient

    from alpr.governance.api import create_app

    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, secret = add_user(gov, admin, "ofc.a", "operator")
    client = TestClient(create_app(governance=gov))
    r = client.post("/api/hotlist", headers={"Authorization": f"Bearer {login(gov, op.username, secret)}"}, json={
        "plate": "6CVT321", "list_code": "COVERT", "case_number": "C-24-610", "purpose_code": PC,
        "expires_at": time.time() + DAY, "description": "surveillance target vehicle", "covert": True,
        "clets_derived": True})
    assert r.status_code == 201, r.text
    assert r.json()["entry"]["source"] == "agency" and r.json()["entry"]["agency"] == HOME
    stage = MatchStage(lambda: HotlistSnapshot.from_entries(gov.hotlist_store.load_entries(time.time())))

    def group(agency):
        return build_group([read("6CVT321", 100.0 + i, 95.0, cam=f"cam-{agency}", agency=agency, seq=i)
                            for i in range(3)])

    assert stage.alerts(group(OTHER), now=time.time()) == []      # agency B's camera: no alert
    (mine,) = stage.alerts(group(HOME), now=time.time())           # agency A's camera: the alert, in full
    assert (mine.agency, mine.description, mine.case_number) == (HOME, "surveillance target vehicle", "C-24-610")


def test_auditor_cannot_manage_hotlist_and_removal_is_agency_scoped(env):
    gov, op, aud = env
    with pytest.raises(PermissionDenied):
        gov.hotlists.add_entry(aud, plate="7AB*", list_code="MAJOR", case_number="C-1X", purpose_code=PC,
                               expires_at=time.time() + DAY)
    entry, _ = gov.hotlists.add_entry(op, plate="7AB*", list_code="MAJOR", case_number="C-1X", purpose_code=PC,
                                      expires_at=time.time() + DAY)
    gov.hotlists.remove_entry(op, entry.entry_id)
    assert gov.hotlists.list_entries(op) == []


def test_new_partial_plate_raises_historical_hits_from_own_agency_reads(env):
    gov, op, _ = env
    # 7ABC12* (one unknown character) matches r1 7ABC123 and r2 7ABC124 of DHSPD; r4 7ABC123 belongs
    # to another agency and is not searched without a sharing grant
    _, n = gov.hotlists.add_entry(op, plate="7ABC12*", list_code="MAJOR", case_number="C-1X", purpose_code=PC,
                                  expires_at=time.time() + DAY, description="partial plate, robbery")
    assert n == 2
    alerts = gov.reads.get_alerts()
    assert sorted(a.read_plate for a in alerts) == ["7ABC123", "7ABC124"]
    assert all(a.agency == "DHSPD" and a.match_type == "wildcard" and a.case_number == "C-1X" for a in alerts)
    lookback = gov.store.access_records()[-1]
    assert lookback.action == "hotlist_lookback" and lookback.data_elements["result_count"] == 2
    assert lookback.data_elements["agencies"] == ["DHSPD"] and lookback.purpose_code == PC


def test_retro_look_back_is_configurable(env):
    gov, op, _ = env
    from alpr.governance.hotlists import retro_alerts_search

    gov.hotlists.retro_search = retro_alerts_search(lookback_s=5000)  # r1 is 7200 s old: outside
    _, n = gov.hotlists.add_entry(op, plate="7ABC12*", list_code="MAJOR", case_number="C-1X", purpose_code=PC,
                                  expires_at=time.time() + DAY)
    assert n == 1 and [a.read_plate for a in gov.reads.get_alerts()] == ["7ABC124"]


# ---------------------------------------------------------------------------------------------
# Issue 12 item 5: hotlist entries are accesses.
def test_an_entry_needs_a_purpose_code_and_is_logged_as_a_search(env):
    gov, op, _ = env
    with pytest.raises(ValidationError, match="purpose code"):
        gov.hotlists.add_entry(op, plate="5HOME0*", list_code="LOCAL", case_number="C-24-77",
                               expires_at=time.time() + DAY)
    refused = gov.store.access_records()[-1]
    assert refused.action == "manage_hotlist" and refused.outcome == "denied"
    gov.hotlists.add_entry(op, plate="7ABC12*", list_code="LOCAL", case_number="C-24-77", purpose_code=PC,
                           expires_at=time.time() + DAY)
    add, look = gov.store.access_records()[-2:]
    assert (add.action, add.purpose_code, add.case_number) == ("hotlist_add", PC, "C-24-77")
    assert look.action == "hotlist_lookback" and look.purpose_code == PC
    # both count as searches for the audit report and sampling
    aud = gov.store.get_user("aud.a")
    report = gov.audits.report(aud)
    assert report["by_purpose"].get(PC, 0) >= 2


def test_the_look_back_searches_only_the_agencys_own_reads(env):
    gov, op, _ = env
    import dataclasses
    from governance_helpers import OTHER
    # even an entry marked as shared with another agency looks back over its own agency's reads only
    entry, n = gov.hotlists.add_entry(op, plate="5QRS777", list_code="LOCAL", case_number="C-24-78",
                                      purpose_code=PC, expires_at=time.time() + DAY)
    assert n == 0  # r5 5QRS777 belongs to PSPD
    shared = dataclasses.replace(entry, shared_with=(OTHER,))
    assert gov.hotlists.retro_search(shared, gov.reads) == []


# One list of texts for every channel (issue 12 item 5): the file importer and the API service
# share one check (alpr.pii.personal_data), and these tests hold both to it.
PERSONAL_TEXTS = [
    "Suspect John Smith, born 1985-03-02, lives 123 Main St",   # the tester's description
    "ex-girlfriend's car", "owner Jane Doe", "DOB 01/02/1980", "resides at 77 Palm Canyon Dr",
    "driver 1990-07-04", "call 760-555-0199", "mail j.doe@example.org", "aged 34", "Owner: John Smith",
    "SSN 123-45-6789",
    "John Smith's Honda", "owned by Jane Doe", "Juan Perez 3/2/85",  # a tester's bypasses of the first version
]
VEHICLE_TEXTS = ["white Honda Civic, broken tail light", "stolen 2026-05-01 from a dealer lot",
                 "armed robbery suspect vehicle", "silver Ford Explorer", "silver Ford Explorer's rear bumper dented",
                 "stolen 5/1/26 from a dealer lot"]


def _import_description(text: str):
    """The text as a description, through the file importer (OpenALPR CSV and native CSV)."""
    import csv
    import io

    from alpr.connectors.hotlists import ImportOptions, parse_native, parse_openalpr

    reports = []
    for header, row, parse in ((["Plate Number", "Description", "Match Strategy"], ["7ABC999", text, "exact"],
                                parse_openalpr),
                               (["plate", "list_code", "description"], ["7ABC999", "LOCAL", text], parse_native)):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header, row])
        reports.append(parse(buf.getvalue(), ImportOptions(list_code="LOCAL")))
    return reports


@pytest.mark.parametrize("text", PERSONAL_TEXTS)
def test_personal_data_in_free_text_is_refused_on_every_channel(env, text):
    gov, op, _ = env
    with pytest.raises(ValidationError, match="personal data"):
        gov.hotlists.add_entry(op, plate="7ABC999", list_code="LOCAL", case_number="C-24-79", purpose_code=PC,
                               expires_at=time.time() + DAY, description=text)
    assert gov.hotlists.list_entries(op) == []
    assert gov.store.access_records()[-2].outcome == "denied"
    for rep in _import_description(text):  # the same text in a hotlist file: the row is refused
        assert rep.entries == [] and len(rep.rejected) == 1, (rep.format, text)
        assert rep.rejected[0].reason.startswith("personal data ("), rep.rejected[0].reason


@pytest.mark.parametrize("ok", VEHICLE_TEXTS)
def test_vehicle_descriptions_are_accepted(env, ok):
    gov, op, _ = env
    gov.hotlists.add_entry(op, plate="7ABC999", list_code="LOCAL", case_number="C-24-79", purpose_code=PC,
                           expires_at=time.time() + DAY, description=ok)
    for rep in _import_description(ok):
        assert [e.description for e in rep.entries] == [ok] and rep.rejected == [], rep.format
