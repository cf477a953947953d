"""Agency hotlist entries (461.3(c); State Auditor F2, F7)."""

import time

import pytest

from alpr.governance.errors import PermissionDenied, ValidationError

from governance_helpers import add_user, bootstrap, make_gov, seed_reads

DAY = 86_400


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
    entry, _ = gov.hotlists.add_entry(op, plate="7ab*", list_code="MAJOR", case_number="C-24-900",
                                      expires_at=time.time() + 7 * DAY, description="white sedan, shooting")
    assert entry.plate == "7AB*" and entry.is_wildcard and entry.source == "agency" and entry.agency == "DHSPD"
    assert [e.entry_id for e in gov.hotlists.list_entries(op)] == [entry.entry_id]
    assert "C-24-900" in gov.store.known_cases("DHSPD")


def test_case_number_and_expiry_mandatory(env):
    gov, op, _ = env
    base = dict(plate="7AB*", list_code="MAJOR", description="")
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
    entry, _ = gov.hotlists.add_entry(op, plate="8XYZ999", list_code="SVS", case_number="CLETS-1234",
                                      expires_at=time.time() + DAY, clets_derived=True)
    stored = [e for e in gov.hotlist_store.load_entries() if e.entry_id == entry.entry_id][0]
    assert stored.clets_derived and stored.source == "clets"


def test_auditor_cannot_manage_hotlist_and_removal_is_agency_scoped(env):
    gov, op, aud = env
    with pytest.raises(PermissionDenied):
        gov.hotlists.add_entry(aud, plate="7AB*", list_code="MAJOR", case_number="C-1X", expires_at=time.time() + DAY)
    entry, _ = gov.hotlists.add_entry(op, plate="7AB*", list_code="MAJOR", case_number="C-1X",
                                      expires_at=time.time() + DAY)
    gov.hotlists.remove_entry(op, entry.entry_id)
    assert gov.hotlists.list_entries(op) == []


def test_retro_search_integration_point_raises_historical_hits(env):
    gov, op, _ = env
    from alpr.connectors.stores.base import ReadQuery
    from governance_helpers import alert

    def retro(entry, reads):  # stands in for alpr.hotlist.matcher.retro_search
        hits = reads.search_reads(ReadQuery(plate_pattern=entry.plate, agencies=[entry.agency]))
        return [alert(f"retro-{r.read_id}", plate=r.plate) for r in hits]

    gov.hotlists.retro_search = retro
    _, n = gov.hotlists.add_entry(op, plate="7AB*", list_code="MAJOR", case_number="C-1X",
                                  expires_at=time.time() + DAY)
    assert n == 2
    assert sorted(a.alert_id for a in gov.reads.get_alerts("DHSPD")) == ["retro-r1", "retro-r2"]
    assert gov.store.access_records()[-1].data_elements["historical_hits"] == 2
