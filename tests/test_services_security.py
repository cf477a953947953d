"""Closed services (issue 12 item 9): Kafka takes SASL/SCRAM only and authorizes with ACLs,
Cassandra takes logins and the application role has only its keyspace's grants.

Needs the real services (tests/services.py starts them through infra/services.sh, which sets
them up with infra/svcauth.py)."""

from __future__ import annotations

import os
import stat
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.services

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from alpr.config import KafkaConfig  # noqa: E402
from alpr.records import Alert  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _svcauth():
    sys.path.insert(0, str(REPO / "infra"))
    import svcauth

    return svcauth


def _alert(agency: str, n: int = 0) -> Alert:
    return Alert(alert_id=f"a-{agency}-{n}-{uuid.uuid4().hex[:6]}", group_id=f"g-{n}", camera_id="cam-1",
                 agency=agency, capture_ts=time.time(), read_plate="7SEC123", entry_plate="7SEC123",
                 entry_id=f"e-{n}", list_code="HOT", list_name="hot", match_type="exact", distance=0)


@pytest.fixture(scope="module")
def agencies(kafka_service):
    """Two agencies provisioned the operator's way (infra/svcauth.py kafka-agency, as admin)."""
    svcauth = _svcauth()
    a, b = f"A{uuid.uuid4().hex[:6].upper()}", f"B{uuid.uuid4().hex[:6].upper()}"
    for code in (a, b):
        svcauth.kafka_agency(kafka_service.bootstrap, Path(kafka_service.secrets_dir), code,
                             kafka_service.topics["alerts"], 1)
    return a, b


def _read(config: dict, topic: str, timeout: float = 20.0) -> tuple[list, list]:
    """(messages, errors) of ``topic`` from the beginning, until ``timeout`` or the first error."""
    c = Consumer({**config, "group.id": config.get("group.id", f"alpr-t-{uuid.uuid4().hex}"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    msgs, errors, deadline = [], [], time.monotonic() + timeout
    try:
        c.subscribe([topic])
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                if msgs:
                    break
                continue
            if m.error():
                errors.append(m.error())
                break
            msgs.append(m)
    finally:
        c.close()
    return msgs, errors


# --------------------------------------------------------------------------- Kafka
def test_secrets_are_private_files(kafka_service):
    d = Path(kafka_service.secrets_dir)
    for f in d.glob("*.password"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_anonymous_plaintext_client_is_refused(kafka_service):
    admin = AdminClient({"bootstrap.servers": kafka_service.bootstrap, "socket.timeout.ms": 3000})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=6)


def test_wrong_password_is_refused(kafka_service, tmp_path):
    from alpr.connectors.auth import kafka_security

    bad = tmp_path / "bad.password"
    bad.write_text("not-the-password\n")
    creds = {**kafka_service.credentials("pipeline"), "ALPR_KAFKA__SASL_PASSWORD_FILE": str(bad)}
    seen: list = []
    admin = AdminClient({"bootstrap.servers": kafka_service.bootstrap, **kafka_security(None, creds),
                         "error_cb": seen.append, "log_level": 0})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=6)
    admin.poll(1)  # delivers the error callbacks
    assert any(e.code() == KafkaError._AUTHENTICATION for e in seen), seen
    del admin


def test_pipeline_writes_each_alert_to_its_agency_topic_and_agencies_read_only_their_own(kafka_service, agencies):
    """The Beam alert sink as the pipeline principal with kafka.agency_alert_topics: every alert
    on the shared topic and on <alerts>.<agency>; agency-A reads its topic, agency-B is refused it."""
    import apache_beam as beam

    from alpr.connectors.kafka import WriteAlertsToKafka

    a, b = agencies
    creds = kafka_service.credentials("pipeline")
    cfg = KafkaConfig(bootstrap=kafka_service.bootstrap, alerts_topic=kafka_service.topics["alerts"],
                      sasl_username=creds["ALPR_KAFKA__SASL_USERNAME"],
                      sasl_password_file=creds["ALPR_KAFKA__SASL_PASSWORD_FILE"], agency_alert_topics=True)
    alerts = [_alert(a, 1), _alert(b, 2)]
    with beam.Pipeline() as p:
        _ = p | beam.Create(alerts) | WriteAlertsToKafka(cfg)

    alerts_topic = kafka_service.topics["alerts"]
    msgs, errors = _read(kafka_service.client_config(f"agency-{a}", **{"group.id": f"{alerts_topic}.{a}-t"}),
                         f"{alerts_topic}.{a}")
    assert not errors and [Alert.from_json(m.value()).alert_id for m in msgs] == [alerts[0].alert_id]

    # agency B may not read agency A's topic, nor the shared one, nor use another group
    for topic in (f"{alerts_topic}.{a}", alerts_topic):
        msgs, errors = _read(kafka_service.client_config(f"agency-{b}", **{"group.id": f"{alerts_topic}.{b}-t"}),
                             topic, timeout=15)
        assert not msgs and errors, topic
        assert errors[0].code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.UNKNOWN_TOPIC_OR_PART), errors
    msgs, errors = _read(kafka_service.client_config(f"agency-{b}", **{"group.id": "alpr-pipeline"}),
                         f"{alerts_topic}.{b}", timeout=15)
    assert not msgs and errors and errors[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, errors


def test_pipeline_principal_has_only_what_it_needs(kafka_service, agencies):
    a, _ = agencies
    alerts_topic = kafka_service.topics["alerts"]
    # it cannot read alerts (its own output), nor create topics
    msgs, errors = _read(kafka_service.client_config("pipeline"), f"{alerts_topic}.{a}", timeout=15)
    assert not msgs and errors and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors
    admin = AdminClient(kafka_service.client_config("pipeline"))
    fut = admin.create_topics([NewTopic(f"x-{uuid.uuid4().hex[:6]}", 1, 1)])
    with pytest.raises(KafkaException) as err:
        next(iter(fut.values())).result(20)
    assert err.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # the gateway writes frames but cannot read them
    msgs, errors = _read(kafka_service.client_config("gateway"), kafka_service.topics["frames"], timeout=15)
    assert not msgs and errors


def test_agency_cannot_write_to_its_alert_topic(kafka_service, agencies):
    a, _ = agencies
    errors: list = []
    p = Producer(kafka_service.client_config(f"agency-{a}", **{"message.timeout.ms": 10000}))
    p.produce(f"{kafka_service.topics['alerts']}.{a}", b"forged",
              on_delivery=lambda err, _m: errors.append(err) if err else None)
    p.flush(15)
    assert errors and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors


# --------------------------------------------------------------------------- Cassandra
def _cluster(svc, auth=None):
    from cassandra.cluster import Cluster

    return Cluster([svc.host], port=svc.port, protocol_version=5, connect_timeout=10, auth_provider=auth)


def test_cassandra_without_credentials_or_with_the_default_superuser_is_refused(cassandra_service):
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import NoHostAvailable

    for auth in (None, PlainTextAuthProvider("cassandra", "cassandra"),
                 PlainTextAuthProvider("alpr_app", "wrong-password")):
        cluster = _cluster(cassandra_service, auth)
        try:
            with pytest.raises(NoHostAvailable) as err:
                cluster.connect()
            assert "auth" in str(err.value).lower(), err.value
        finally:
            cluster.shutdown()


def test_application_role_has_only_its_keyspace_grants(cassandra_service):
    from cassandra import Unauthorized

    ks = cassandra_service.keyspace
    cluster = _cluster(cassandra_service, cassandra_service.auth_provider("alpr_app"))
    try:
        s = cluster.connect(ks)
        s.execute("SELECT read_id FROM reads_by_id LIMIT 1")  # its keyspace: yes
        for stmt in (f"DROP TABLE {ks}.reads_by_id", f"DROP KEYSPACE {ks}",
                     "CREATE KEYSPACE sec_x WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
                     "CREATE ROLE sec_x WITH LOGIN = true AND PASSWORD = 'x'",
                     f"GRANT ALL ON KEYSPACE {ks} TO alpr_app", "ALTER ROLE alpr_app WITH SUPERUSER = true"):
            with pytest.raises(Unauthorized):
                s.execute(stmt)
    finally:
        cluster.shutdown()


def test_store_logs_in_as_the_application_role(cassandra_service):
    from alpr.config import CassandraConfig
    from alpr.connectors.stores import open_store

    creds = cassandra_service.credentials()
    store = open_store(f"cassandra://{cassandra_service.contact_point}/{cassandra_service.keyspace}",
                       CassandraConfig(creds["ALPR_CASSANDRA__USERNAME"], creds["ALPR_CASSANDRA__PASSWORD_FILE"]))
    try:
        assert store.load_entries() is not None
    finally:
        store.close()
    assert os.stat(creds["ALPR_CASSANDRA__PASSWORD_FILE"]).st_mode & 0o077 == 0
