"""Service credentials without the services (connectors/auth.py, infra templates) and plates kept
out of logs by default (issue 12 item 9). The services themselves: tests/test_services_security.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from alpr.config import KafkaConfig, load_settings
from alpr.connectors.auth import (FLINK_SCRAM_LOGIN_MODULE, CredentialsError, cassandra_auth_provider,
                                  kafka_java_properties, kafka_security)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def pw(tmp_path):
    f = tmp_path / "pw"
    f.write_text('s3"cr\\et\n')
    f.chmod(0o600)
    return str(f)


def test_no_username_means_no_sasl_and_the_broker_refuses_it():
    assert kafka_security(None, {}) == {}
    assert kafka_java_properties(None, {}) == {}
    assert cassandra_auth_provider(None, {}) is None


def test_kafka_credentials_from_settings_or_environment(pw):
    env = {"ALPR_KAFKA__SASL_USERNAME": "pipeline", "ALPR_KAFKA__SASL_PASSWORD_FILE": pw}
    assert kafka_security(None, env) == {"security.protocol": "sasl_plaintext", "sasl.mechanism": "SCRAM-SHA-512",
                                         "sasl.username": "pipeline", "sasl.password": 's3"cr\\et'}
    cfg = KafkaConfig(sasl_username="gateway", sasl_password_file=pw, sasl_mechanism="SCRAM-SHA-256")
    assert kafka_security(cfg, env)["sasl.username"] == "gateway"  # the settings win
    assert kafka_security(cfg, env)["sasl.mechanism"] == "SCRAM-SHA-256"
    # the Flink connector jar shades Kafka: its login module, the password quoted for JAAS
    java = kafka_java_properties(None, env)
    assert java["security.protocol"] == "SASL_PLAINTEXT" and java["sasl.mechanism"] == "SCRAM-SHA-512"
    assert java["sasl.jaas.config"] == (f'{FLINK_SCRAM_LOGIN_MODULE} required username="pipeline" '
                                        'password="s3\\"cr\\\\et";')
    assert FLINK_SCRAM_LOGIN_MODULE.startswith("org.apache.flink.kafka.shaded.org.apache.kafka.")


def test_incomplete_or_unreadable_credentials_are_clear_errors(tmp_path, pw):
    with pytest.raises(CredentialsError, match="sasl_password_file"):
        kafka_security(None, {"ALPR_KAFKA__SASL_USERNAME": "pipeline"})
    with pytest.raises(CredentialsError, match="cannot read secret file"):
        kafka_security(None, {"ALPR_KAFKA__SASL_USERNAME": "p", "ALPR_KAFKA__SASL_PASSWORD_FILE": str(tmp_path / "x")})
    with pytest.raises(CredentialsError, match="sasl_mechanism"):
        kafka_security(None, {"ALPR_KAFKA__SASL_USERNAME": "p", "ALPR_KAFKA__SASL_PASSWORD_FILE": pw,
                              "ALPR_KAFKA__SASL_MECHANISM": "PLAIN"})
    with pytest.raises(CredentialsError, match="password_file"):
        cassandra_auth_provider(None, {"ALPR_CASSANDRA__USERNAME": "alpr_app"})
    auth = cassandra_auth_provider(None, {"ALPR_CASSANDRA__USERNAME": "alpr_app", "ALPR_CASSANDRA__PASSWORD_FILE": pw})
    assert auth.username == "alpr_app" and auth.password == 's3"cr\\et'


def test_settings_hold_a_password_file_never_a_password(pw):
    s = load_settings(env={"ALPR_KAFKA__SASL_USERNAME": "pipeline", "ALPR_KAFKA__SASL_PASSWORD_FILE": pw,
                           "ALPR_CASSANDRA__USERNAME": "alpr_app", "ALPR_CASSANDRA__PASSWORD_FILE": pw,
                           "ALPR_KAFKA__AGENCY_ALERT_TOPICS": "1"})
    assert s.kafka.agency_alert_topics is True and s.cassandra.username == "alpr_app"
    assert "s3" not in repr(s)
    with pytest.raises(Exception, match="unknown setting ALPR_KAFKA__SASL_PASSWORD"):
        load_settings(env={"ALPR_KAFKA__SASL_PASSWORD": "x"})


def test_infra_templates_are_closed():
    kafka = (REPO / "infra" / "kafka" / "server.properties.in").read_text()
    assert "PLAINTEXT://" not in kafka and "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT" in kafka
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in kafka and "allow.everyone.if.no.acl.found=false" in kafka
    assert "StandardAuthorizer" in kafka and "super.users=User:admin;User:controller" in kafka
    cassandra = (REPO / "infra" / "cassandra" / "cassandra.yaml.in").read_text()
    assert "authenticator: PasswordAuthenticator" in cassandra and "authorizer: CassandraAuthorizer" in cassandra
    flink = (REPO / "infra" / "flink" / "config.yaml.in").read_text()
    for key in ("rest.bind-address", "jobmanager.bind-host", "taskmanager.bind-host"):
        assert f"{key}: @HOST@" in flink, key
    assert "HOST=127.0.0.1" in (REPO / "infra" / "services.sh").read_text()


def test_secret_files_are_private(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("svcauth_t", REPO / "infra" / "svcauth.py")
    mod = importlib.util.module_from_spec(spec)
    import sys
    sys.path.insert(0, str(REPO / "infra"))
    spec.loader.exec_module(mod)
    first = mod.secret(tmp_path / "s", "kafka-admin")
    assert (first.stat().st_mode & 0o777) == 0o600 and ((tmp_path / "s").stat().st_mode & 0o777) == 0o700
    assert mod.secret(tmp_path / "s", "kafka-admin").read_text() == first.read_text()  # kept, not regenerated
    assert len(first.read_text().strip()) == 48
    env = mod.write_env(tmp_path / "s", "kafka-pipeline", mod.kafka_env(tmp_path / "s", "pipeline"))
    assert (env.stat().st_mode & 0o777) == 0o600 and "ALPR_KAFKA__SASL_USERNAME=pipeline" in env.read_text()


def test_a_run_prints_and_logs_no_plate_by_default(tmp_path, capsys, caplog, monkeypatch):
    """The pipeline's stdout, stderr and log records carry no plate unless debug_plates/print_results."""
    from alpr.app.cli import main
    from alpr.connectors.camera.synthetic import SyntheticCamera

    plate = SyntheticCamera("cam-1", "DHSPD", n_vehicles=1, seed=7).vehicles[0].plate
    hot = tmp_path / "hot.csv"
    hot.write_text(f"Plate Number,Description,Match Strategy\n{plate},stolen (test),exact\n")
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    assert main(["run", "--source", "synthetic:1", "--store", f"sqlite:{tmp_path}/s.db", "--hotlist", str(hot)]) == 0
    out, err = capsys.readouterr()
    assert " alerts=1 " in out  # it did see the plate
    assert plate not in out and plate not in err and plate not in caplog.text
