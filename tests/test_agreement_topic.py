"""Agreements and agency entries on the hotlist topic (issues 12 item 1 and 13 item 3).

A running Flink job learns hotlist changes from the compacted ``hotlist`` topic only. With
``ALPR_GOV_HOTLIST_KAFKA`` set, ``alpr serve`` publishes there every agency entry it adds or
removes and every agreement approval, revocation and expiry (key ``agreement:<id>``; anything
but a live approval is a tombstone), and each maintenance run republishes the agreements. The
job's side (``TopicAgreements`` over the grants it was submitted with) is tested in
tests/test_flink_agreements.py with the job's own operator.
"""
from __future__ import annotations

import time
import uuid

import pytest

from alpr.connectors.kafka_hotlist import change_message, hotlist_change_from_message
from alpr.governance.agreement_feed import TopicFeed, agreement_change
from alpr.pipelines.core.agreements import AgreementGrant, AgreementIndex, TopicAgreements
from alpr.records import AgreementChange, HotlistChange, HotlistEntry, SchemaError, record_from_json
from governance_helpers import HOME, OTHER, add_user, bootstrap, make_gov

DAY = 86_400
ENTRY = HotlistEntry("e-1", "5HOM001", "STOLEN", agency=HOME)


def _approved(gov, now):
    a_admin, b_admin = bootstrap(gov, HOME)[0], bootstrap(gov, OTHER)[0]
    a = gov.agreements.propose(a_admin, owner_agency=HOME, partner_agency=OTHER, document_ref="MOU-42",
                               start_ts=now - 60, expires_ts=now + DAY, list_codes=["stolen"])
    return a_admin, b_admin, gov.agreements.review(b_admin, a.agreement_id, True)


def test_an_agreement_change_round_trips_as_a_topic_message_and_a_removal_is_a_tombstone():
    up = AgreementChange("upsert", "ag1", HOME, OTHER, 10.0, 20.0, ("STOLEN",), ts=11.0, reason="approve")
    key, value = change_message(up)
    assert key == b"agreement:ag1" and record_from_json(value) == up
    assert hotlist_change_from_message(key, value) == up
    rm = AgreementChange("remove", "ag1", ts=12.0, reason="revoke")
    key, value = change_message(rm)
    assert value is None and hotlist_change_from_message(key, None, ts=12.0).op == "remove"
    with pytest.raises(SchemaError):  # the key names another agreement than the value
        hotlist_change_from_message(b"agreement:ag2", change_message(up)[1])
    with pytest.raises(SchemaError):  # an upsert without a validity window
        AgreementChange("upsert", "ag3", HOME, OTHER, 20.0, 10.0)
    with pytest.raises(SchemaError):  # an entry can never pose as an agreement
        HotlistChange("remove", "agreement:ag1")


def test_topic_changes_override_the_grants_a_job_was_submitted_with():
    now = time.time()
    submitted = AgreementGrant(HOME, OTHER, now - 60, now + DAY, frozenset({"STOLEN"}), "ag1")
    hook = TopicAgreements(AgreementIndex([submitted]))
    assert hook.extends(ENTRY, OTHER, now) and not hook.extends(ENTRY, "THIRD", now)
    hook.apply(AgreementChange("remove", "ag1", ts=now, reason="revoke"))
    assert not hook.extends(ENTRY, OTHER, now) and len(hook) == 0
    hook.apply(AgreementChange("upsert", "ag2", HOME, "THIRD", now - 1, now + 60, ("STOLEN",), ts=now))
    assert hook.extends(ENTRY, "THIRD", now) and not hook.extends(ENTRY, "THIRD", now + 61)  # window held
    assert not hook.extends(HotlistEntry("e-2", "5HOM002", "COVERT", agency=HOME), "THIRD", now)  # list held


class _Recording:
    """The publisher port (``publish(changes)``): keeps what it was given, or fails like a broker that is down."""

    def __init__(self, fail: bool = False):
        self.fail, self.got = fail, []

    def publish(self, changes):
        if self.fail:
            raise RuntimeError("broker down")
        self.got += list(changes)
        return len(changes)

    def close(self):
        pass


def test_approval_revocation_and_expiry_each_reach_the_feed_and_a_failed_publish_is_made_good(tmp_path):
    gov = make_gov(db_path=str(tmp_path / "g.db"), read_path=str(tmp_path / "r.db"))
    rec = _Recording()
    gov.feed = TopicFeed(rec, gov.clock)
    gov.agreements.on_change = gov.feed.agreement
    now = time.time()
    a_admin, b_admin, a = _approved(gov, now)
    assert [(c.op, c.agreement_id, c.owner, c.partner, c.list_codes, c.reason) for c in rec.got] == [
        ("upsert", a.agreement_id, HOME, OTHER, ("STOLEN",), "approve")]
    rec.fail = True  # the revocation is recorded even though Kafka is down ...
    assert gov.agreements.revoke(a_admin, a.agreement_id, "case closed").status == "revoked"
    assert gov.feed.failed == 1 and len(rec.got) == 1
    rec.fail = False  # ... and the next maintenance run publishes it
    assert gov.run_maintenance()["agreements_published"] == 1
    assert [(c.op, c.agreement_id, c.reason) for c in rec.got[1:]] == [("remove", a.agreement_id, "resync")]
    # an agreement that runs out: its expiry is a removal too
    rec.got.clear()
    b = gov.agreements.propose(a_admin, owner_agency=HOME, partner_agency=OTHER, document_ref="MOU-43",
                               start_ts=now - 60, expires_ts=now + 60)
    gov.agreements.review(b_admin, b.agreement_id, True)
    assert gov.agreements.expire(now + 61) == [b.agreement_id]
    assert [(c.op, c.reason) for c in rec.got] == [("upsert", "approve"), ("remove", "expire")]
    assert agreement_change(gov.store.get_agreement(b.agreement_id), "resync", now).op == "remove"
    gov.close()


@pytest.mark.services
def test_alpr_serve_publishes_agency_entries_and_agreements_to_the_hotlist_topic(kafka_service, tmp_path):
    from alpr.connectors.kafka_hotlist import read_hotlist_changes

    topic = f"hotlist-gov-{uuid.uuid4().hex[:8]}"
    gov = make_gov(db_path=str(tmp_path / "g.db"), read_path=str(tmp_path / "r.db"),
                   hotlist_kafka=kafka_service.bootstrap, hotlist_topic=topic)
    try:
        now = time.time()
        a_admin, _, a = _approved(gov, now)
        op, _ = add_user(gov, a_admin, "ofc.topic", "operator")
        entry, _ = gov.hotlists.add_entry(op, plate="5HOM001", list_code="STOLEN", case_number="C-26-001",
                                          purpose_code="STOLEN-VEHICLE", expires_at=now + DAY)
        gov.agreements.revoke(a_admin, a.agreement_id, "case closed")
        gov.hotlists.remove_entry(op, entry.entry_id)
        changes = read_hotlist_changes(kafka_service.bootstrap, topic)
        assert [(type(c).__name__, c.op) for c in changes] == [
            ("AgreementChange", "upsert"), ("HotlistChange", "upsert"), ("AgreementChange", "remove"),
            ("HotlistChange", "remove")]
        assert changes[0].agreement_id == changes[2].agreement_id == a.agreement_id
        assert changes[1].entry.entry_id == entry.entry_id and changes[1].entry.agency == HOME
    finally:
        gov.close()


def test_maintenance_removes_expired_entries_so_the_topic_gets_their_tombstones(tmp_path):
    from alpr.connectors.kafka_hotlist import PublishingHotlistStore

    gov = make_gov(db_path=str(tmp_path / "g.db"), read_path=str(tmp_path / "r.db"))
    rec = _Recording()
    gov.hotlists.hotlists = PublishingHotlistStore(gov.hotlist_store, rec)
    now = time.time()
    a_admin = bootstrap(gov, HOME)[0]
    op, _ = add_user(gov, a_admin, "ofc.expiry", "operator")
    short, _ = gov.hotlists.add_entry(op, plate="5HOM001", list_code="STOLEN", case_number="C-26-001",
                                      purpose_code="STOLEN-VEHICLE", expires_at=now + 60)
    long, _ = gov.hotlists.add_entry(op, plate="5HOM002", list_code="STOLEN", case_number="C-26-002",
                                     purpose_code="STOLEN-VEHICLE", expires_at=now + DAY)
    rec.got.clear()
    assert gov.run_maintenance(now=now + 30)["entries_expired"] == 0 and rec.got == []
    assert gov.run_maintenance(now=now + 61)["entries_expired"] == 1
    assert [(c.op, c.entry_id) for c in rec.got] == [("remove", short.entry_id)]
    assert [e.entry_id for e in gov.hotlist_store.load_entries(0.0)] == [long.entry_id]
    logged = [r for r in gov.store.access_records() if r.action == "hotlist_expire"]
    assert [(r.agency, r.data_elements["entry_id"]) for r in logged] == [(HOME, short.entry_id)]
    assert gov.run_maintenance(now=now + 62)["entries_expired"] == 0  # once only
    gov.close()
