"""Access-log anchors on a real Kafka broker: signed checkpoints published to the anchor topic,
read back by ``verify``, and a cut tail caught from the topic alone (issue 12 item 3)."""

import uuid

import pytest

pytestmark = pytest.mark.services

pytest.importorskip("confluent_kafka")
try:
    import services  # noqa: F401  (provides the kafka_service fixture)
except ImportError:  # pragma: no cover
    pytest.skip("tests/services.py (service fixtures) is not present", allow_module_level=True)


def test_checkpoints_go_to_kafka_and_catch_a_cut_tail(kafka_service, tmp_path):
    import sqlite3

    from alpr.governance.anchors import KafkaAnchorSink
    from alpr.governance.search import SearchCriteria
    from governance_helpers import Clock, add_user, bootstrap, make_gov, seed_reads

    topic = f"alpr.audit.anchors.t{uuid.uuid4().hex[:8]}"
    sink = KafkaAnchorSink(kafka_service.bootstrap, topic)
    gov = make_gov(Clock(), db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"),
                   audit_anchor_kafka=kafka_service.bootstrap, audit_anchor_topic=topic,
                   audit_anchor_file=str(tmp_path / "unused.jsonl"))
    gov.log.anchors = (sink,)  # the topic only: no anchor file
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.k", "operator")
    seed_reads(gov)
    gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", "C-24-1")
    n = len(gov.store.access_records())
    cps = sink.checkpoints()
    assert [c.seq for c in cps] == list(range(1, n + 1))
    assert all(c.valid_for(gov.log.key.public_key_hex()) for c in cps)
    rep = gov.verify_chain()
    assert rep.ok and rep.anchors_checked == n
    # cut the tail and move the head: the topic still remembers
    c = sqlite3.connect(str(tmp_path / "gov.db"), isolation_level=None)
    c.execute("DROP TRIGGER access_log_no_delete")
    c.execute("DELETE FROM access_log WHERE seq > ?", (n - 2,))
    h = c.execute("SELECT hash FROM access_log WHERE seq = ?", (n - 2,)).fetchone()[0]
    c.execute("UPDATE access_log_head SET seq = ?, hash = ?", (n - 2, h))
    c.close()
    rep = gov.verify_chain()
    assert not rep.ok and rep.first_bad_seq == n - 1 and "tail cut" in rep.reason
    gov.close()
