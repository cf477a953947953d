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


# ---------------------------------------------------------------------------------------------
# Issue 12 item 11: the public-comment meeting of 1798.90.55(a) is recorded; go-live is refused
# until it is, and no ALPR data is reachable before go-live.
def test_go_live_is_refused_until_the_public_comment_meeting_is_recorded():
    import pytest

    from alpr.governance.errors import PermissionDenied, PolicyViolation, ValidationError
    from alpr.governance.search import SearchCriteria
    from governance_helpers import add_user, bootstrap, make_gov, seed_reads

    gov = make_gov()
    admin, _ = bootstrap(gov, live=False)
    op, _ = add_user(gov, admin, "ofc.pre", "operator")
    seed_reads(gov)
    assert gov.policies.go_live_checklist("DHSPD")["public_comment_meeting_recorded"] is False
    with pytest.raises(PermissionDenied, match="not gone live"):
        gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", "C-24-1")
    with pytest.raises(PolicyViolation, match="public_comment_meeting_recorded"):
        gov.policies.go_live(admin)
    assert gov.store.access_records()[-1].action == "go_live" and gov.store.access_records()[-1].outcome == "denied"
    with pytest.raises(ValidationError, match="taken place"):
        gov.policies.record_public_meeting(admin, meeting_date="2999-01-01", governing_body="City Council",
                                           agenda_item="7", minutes_ref="https://example.org/m")
    with pytest.raises(PermissionDenied):
        gov.policies.record_public_meeting(op, meeting_date="2024-01-09", governing_body="City Council",
                                           agenda_item="7", minutes_ref="https://example.org/m")
    gov.policies.record_public_meeting(admin, meeting_date="2024-01-09", governing_body="City Council",
                                       agenda_item="Item 7: ALPR program", minutes_ref="https://example.org/m")
    with pytest.raises(PermissionDenied):  # recorded, but not live yet
        gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", "C-24-1")
    live = gov.policies.go_live(admin)
    assert live.live_ts and live.live_by == admin.username
    assert gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", "C-24-1")
    with pytest.raises(PolicyViolation, match="final"):
        gov.policies.record_public_meeting(admin, meeting_date="2024-02-01", governing_body="x",
                                           agenda_item="y", minutes_ref="z")
    # another agency is not live because this one is
    other, _ = bootstrap(gov, "PSPD", live=False)
    assert gov.policies.go_live_checklist("PSPD")["live"] is False


def test_go_live_over_the_cli(tmp_path, monkeypatch, capsys):
    import json
    import re

    from alpr.governance.auth import totp_now
    from alpr.governance.cli import main

    common = ["--gov-db", str(tmp_path / "gov.db"), "--read-store", f"sqlite:{tmp_path / 'reads.db'}"]
    monkeypatch.setenv("ALPR_ADMIN_PASSWORD", "a long cli password 123")
    monkeypatch.setenv("ALPR_PASSWORD", "a long cli password 123")
    monkeypatch.setenv("ALPR_GOV_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ALPR_GOV_ARGON2_MEMORY_KIB", "8192")
    assert main(["users", "bootstrap", "--username", "chief", "--agency", "DHSPD", *common]) == 0
    secret = re.search(r"TOTP secret .*: ([A-Z2-7]+)", capsys.readouterr().out).group(1)
    import time
    codes = iter([totp_now(secret, time.time()), totp_now(secret, time.time() + 30)])
    assert main(["go-live", "start", "--user", "chief", "--totp", next(codes), *common]) == 2
    assert "go-live refused" in capsys.readouterr().err
    assert main(["go-live", "meeting", "--user", "chief", "--totp", next(codes), "--date", "2024-01-09",
                 "--body", "Desert Hot Springs City Council", "--agenda-item", "Item 7", "--minutes",
                 "https://example.org/minutes", *common]) == 0
    assert json.loads(capsys.readouterr().out)["governing_body"] == "Desert Hot Springs City Council"
