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
    assert "C-24-900" in gov.store.known_cases("DHSPD")


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
    assert stored.clets_derived and stored.source == "clets"


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


@pytest.mark.parametrize("text", [
    "Suspect John Smith, born 1985-03-02, lives 123 Main St",   # the tester's description
    "ex-girlfriend's car", "owner Jane Doe", "DOB 01/02/1980", "resides at 77 Palm Canyon Dr",
    "driver 1990-07-04", "call 760-555-0199",
])
def test_personal_data_in_free_text_is_refused_on_every_channel(env, text):
    gov, op, _ = env
    with pytest.raises(ValidationError, match="personal data"):
        gov.hotlists.add_entry(op, plate="7ABC999", list_code="LOCAL", case_number="C-24-79", purpose_code=PC,
                               expires_at=time.time() + DAY, description=text)
    assert gov.hotlists.list_entries(op) == []
    assert gov.store.access_records()[-2].outcome == "denied"


@pytest.mark.parametrize("ok", ["white Honda Civic, broken tail light", "stolen 2026-05-01 from a dealer lot",
                                "armed robbery suspect vehicle", "silver Ford Explorer"])
def test_vehicle_descriptions_are_accepted(env, ok):
    gov, op, _ = env
    gov.hotlists.add_entry(op, plate="7ABC999", list_code="LOCAL", case_number="C-24-79", purpose_code=PC,
                           expires_at=time.time() + DAY, description=ok)
