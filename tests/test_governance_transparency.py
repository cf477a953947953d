"""Versioned policy record (1798.90.51(b)(2)(A)-(G)) and public statistics without plates."""

import pytest

from alpr.governance.errors import PolicyViolation
from alpr.governance.policy_record import ELEMENT_KEYS, packaged_policy_record, packaged_policy_text
from alpr.governance.search import SearchCriteria

from governance_helpers import add_user, bootstrap, make_gov, seed_alerts, seed_reads


def test_packaged_policy_covers_all_elements():
    rec = packaged_policy_record()
    assert all(rec["elements"][k].strip() for k in ELEMENT_KEYS)
    assert "461.7 RELEASING ALPR DATA" in packaged_policy_text()


def test_publish_refuses_missing_element_and_versions_are_immutable():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    elements = dict(packaged_policy_record()["elements"])
    elements["G"] = " "
    with pytest.raises(PolicyViolation, match="G"):
        gov.policies.publish(admin, "v2", elements, "text")
    elements["G"] = "two years"
    gov.policies.publish(admin, "v2", elements, "text", public_comment_meeting="2024-01-09 City Council")
    assert gov.policies.current().version == "v2"
    assert gov.policies.go_live_checklist()["public_comment_meeting_recorded"]
    with pytest.raises(Exception):
        gov.policies.publish(admin, "v2", elements, "text")


def test_stats_count_but_never_name_a_plate():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    reads = seed_reads(gov)
    seed_alerts(gov)
    gov.search.search(op, SearchCriteria(plate_pattern="7ABC*"), "STOLEN-VEHICLE", "C-24-1")
    stats = gov.transparency.stats()
    assert stats["reads_stored"] == 3 and stats["hotlist_hits"] == 2 and stats["searches"] == 1
    assert stats["retention_days"] == 365
    text = str(stats) + str(gov.transparency.policy())
    for r in reads:
        assert r.plate not in text
