"""Alert workflow (461.3(f)): verification before enforcement, reasons, dispositions, history."""

import pytest

from alpr.governance.errors import Conflict, NotFound, ValidationError

from governance_helpers import add_user, bootstrap, make_gov, seed_alerts


@pytest.fixture
def env():
    gov = make_gov()
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    seed_alerts(gov)
    return gov, op


def test_full_workflow_with_verification_and_history(env):
    gov, op = env
    listed = gov.alerts.list_alerts(op, "HOTLIST-HIT", "INC-1")
    assert {a.alert_id for a, _ in listed} == {"a1", "a2"}
    assert all(wf.state == "new" for _, wf in listed)
    gov.alerts.acknowledge(op, "a1", "INC-24-77")
    wf = gov.alerts.verify(op, "a1", "CLETS", "CLETS-RESP-1234", confirmed=True, visual_check=True)
    assert wf.verified_by == "ofc.a" and wf.verified_ts == gov.clock() and wf.verification_system == "CLETS"
    gov.alerts.accept(op, "a1")
    gov.alerts.record_enforcement(op, "a1", "felony stop, driver detained")
    wf = gov.alerts.dispose(op, "a1", "ARREST")
    assert wf.state == "disposed" and wf.disposition == "ARREST"
    states = [e.to_state for e in gov.store.alert_events("a1")]
    assert states == ["acknowledged", "verified", "accepted", "accepted", "disposed"]
    logged = [r for r in gov.store.access_records() if r.data_elements.get("alert_id") == "a1"]
    assert {r.case_number for r in logged if r.outcome == "allowed"} == {"INC-24-77"}


def test_enforcement_refused_on_unverified_alert(env):
    gov, op = env
    gov.alerts.acknowledge(op, "a1", "INC-24-78")
    with pytest.raises(Conflict, match="unverified"):
        gov.alerts.record_enforcement(op, "a1", "stop")
    with pytest.raises(Conflict):
        gov.alerts.accept(op, "a1")  # verification comes first
    gov.alerts.verify(op, "a1", "NCIC", "NCIC-77", confirmed=False, visual_check=True)
    with pytest.raises(Conflict, match="confirmed"):
        gov.alerts.accept(op, "a1")
    with pytest.raises(Conflict):
        gov.alerts.record_enforcement(op, "a1", "stop")
    with pytest.raises(ValidationError):
        gov.alerts.reject(op, "a1", "")
    gov.alerts.reject(op, "a1", "NCIC entry cleared")
    with pytest.raises(Conflict, match="enforcement"):
        gov.alerts.dispose(op, "a1", "ARREST")
    assert gov.alerts.dispose(op, "a1", "ENTRY-CLEARED").state == "disposed"


def test_order_enforced_and_acknowledge_needs_incident(env):
    gov, op = env
    with pytest.raises(Conflict):
        gov.alerts.verify(op, "a2", "CLETS", "R1", True, True)
    with pytest.raises(ValidationError):
        gov.alerts.acknowledge(op, "a2", "")
    with pytest.raises(ValidationError):
        gov.alerts.list_alerts(op, None, None)


def test_other_agency_alert_is_invisible(env):
    gov, op = env
    with pytest.raises(NotFound):
        gov.alerts.acknowledge(op, "b1", "INC-1")
    assert gov.store.access_records()[-1].outcome == "denied"


def test_working_an_alert_raised_by_another_agencys_entry_is_logged_on_the_owners_side_too(env):
    """An agreement extended agency B's entry to A's cameras: A listing, working or reading the
    history of that alert is an access to B's data, logged in B's log as well (issue 12 item 1)."""
    import dataclasses

    from governance_helpers import OTHER, alert

    gov, op = env
    extended = dataclasses.replace(alert("x1"), entry_agency=OTHER, entry_id="b-entry")
    gov.reads.put_alerts([extended], ttl_s=365 * 86_400)
    gov.alerts.list_alerts(op, "HOTLIST-HIT", "INC-9")
    gov.alerts.acknowledge(op, "x1", "INC-24-90")
    gov.alerts.history(op, "x1")
    gov.alerts.history(op, "a1")  # the agency's own entry: nothing on another side
    theirs = [r for r in gov.store.access_records() if r.agency == OTHER]
    assert [(r.action, r.username, r.data_elements["alert_ids"]) for r in theirs] == [
        ("partner_list_alerts", "DHSPD:ofc.a", ["x1"]), ("partner_alert_acknowledged", "DHSPD:ofc.a", ["x1"]),
        ("partner_alert_history", "DHSPD:ofc.a", ["x1"])]
    assert all(r.data_elements["camera_agency"] == "DHSPD" for r in theirs)
