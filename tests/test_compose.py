"""docker-compose.yml agrees with infra/ (versions, ports, topics) and validates."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"


def versions_env() -> dict:
    out = {}
    for line in (REPO / "infra" / "versions.env").read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def test_every_default_matches_versions_env():
    env = versions_env()
    text = COMPOSE.read_text()
    defaults = re.findall(r"\$\{([A-Z0-9_]+):-([^}]*)\}", text)
    assert defaults, "compose file should take versions/ports from variables"
    mismatched = {k: (v, env.get(k)) for k, v in defaults if k in env and env[k] != v}
    assert not mismatched, f"docker-compose.yml defaults disagree with infra/versions.env: {mismatched}"
    unknown = {k for k, _ in defaults if k not in env} - {"ALPR_VERSION", "TRITON_IMAGE_TAG"}
    assert not unknown, f"variables not defined in infra/versions.env: {unknown}"


def test_stack_has_every_component_with_healthchecks_and_volumes():
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    for name in ("kafka", "cassandra", "triton", "flink-jobmanager", "flink-taskmanager", "prometheus", "grafana",
                 "pipeline", "console"):
        assert name in services, name
    for name in ("kafka", "cassandra", "triton", "flink-jobmanager", "prometheus", "console"):
        assert "healthcheck" in services[name], name
    assert {"kafka-data", "cassandra-data", "prometheus-data", "grafana-data"} <= set(doc["volumes"])
    env = services["pipeline"]["environment"]
    assert env["ALPR_RUNNER"] == "flink" and env["ALPR_SOURCE"] == "kafka"
    # the same streaming job as `alpr run --runner flink`, on the Flink image with the job environment
    assert services["pipeline"]["command"][:3] == ["run", "--runner", "flink"]
    assert services["pipeline"]["image"] == services["flink-jobmanager"]["image"] == services["flink-taskmanager"]["image"]
    assert services["flink-jobmanager"]["build"]["dockerfile"] == "infra/flink/Dockerfile"
    assert not any(n.startswith("beam-") for n in services)  # no Beam job server / worker pool
    assert env["ALPR_INFERENCE"].startswith("triton+frames://") and env["ALPR_STORE"].startswith("cassandra://")
    # topics created in compose are the ones the scripts create
    v = versions_env()
    topics = services["kafka-topics"]["entrypoint"]
    for key in ("KAFKA_TOPIC_FRAMES", "KAFKA_TOPIC_ALERTS", "KAFKA_TOPIC_DEADLETTER"):
        assert v[key] in topics
    # no secret is written into the file
    assert not re.search(r"PASSWORD:\s*\S", COMPOSE.read_text())


def _compose_cmd():
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_config_validates():
    cmd = _compose_cmd()
    if cmd is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    res = subprocess.run(cmd + ["-f", str(COMPOSE), "config", "-q"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_services_are_closed():
    """Issue 12 item 9: Kafka, Cassandra, Triton and Flink publish no port and sit on the internal
    network; Kafka is the closed broker of infra/ (SASL/SCRAM + ACLs), Cassandra takes logins, and
    every client gets a principal whose password comes from the generated secrets volume."""
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert doc["networks"]["backend"]["internal"] is True
    for name in ("kafka", "cassandra", "triton", "flink-jobmanager", "flink-taskmanager", "pipeline"):
        assert "ports" not in services[name], name
        assert services[name]["networks"] == ["backend"], name
    assert all(p.startswith("127.0.0.1:") for p in services["prometheus"]["ports"])
    assert services["kafka"]["entrypoint"] == ["bash", "/infra/kafka/compose-entrypoint.sh"]
    assert "--add-scram" in (REPO / "infra" / "kafka" / "compose-entrypoint.sh").read_text()
    assert "PasswordAuthenticator" in " ".join(services["cassandra"]["entrypoint"])
    assert "--grants" in " ".join(services["cassandra-schema"]["entrypoint"])
    users = {name: services[name]["environment"].get("ALPR_KAFKA__SASL_USERNAME")
             for name in ("pipeline", "gateway", "console", "kafka-topics", "kafka-acls")}
    assert users == {"pipeline": "pipeline", "gateway": "gateway", "console": "console", "kafka-topics": "admin",
                     "kafka-acls": "admin"}
    for name in ("pipeline", "console"):
        env = services[name]["environment"]
        assert env["ALPR_CASSANDRA__USERNAME"] == "alpr_app"
        assert env["ALPR_KAFKA__SASL_PASSWORD_FILE"].startswith("/run/alpr-secrets/")
    assert services["pipeline"]["environment"]["ALPR_KAFKA__AGENCY_ALERT_TOPICS"] == "true"
    assert not re.search(r"(?i)password\s*[:=]\s*['\"]?[0-9a-f]{16,}", COMPOSE.read_text())


def test_the_console_keeps_its_keys_and_anchors_apart_from_the_database():
    """Issue 12 item 3 as deployed: someone who can write the governance database (the alpr-data
    volume) must not also hold the chain's key or the only anchor copy, and the mirror is on."""
    doc = yaml.safe_load(COMPOSE.read_text())
    console = doc["services"]["console"]
    env, mounts = console["environment"], dict(v.split(":")[:2][::-1] for v in console["volumes"])
    db_dir = str(Path(env["ALPR_GOV_DB_PATH"]).parent)
    for key in ("ALPR_GOV_AUDIT_KEY_FILE", "ALPR_GOV_SECRETS_KEY_FILE", "ALPR_GOV_AUDIT_ANCHOR_FILE"):
        folder = str(Path(env[key]).parent)
        assert folder != db_dir and folder in mounts, (key, folder)
        assert mounts[folder] != mounts[db_dir] and mounts[folder] in doc["volumes"], (key, mounts[folder])
    assert mounts[str(Path(env["ALPR_GOV_AUDIT_KEY_FILE"]).parent)] != mounts[str(Path(env["ALPR_GOV_AUDIT_ANCHOR_FILE"]).parent)]
    assert env["ALPR_GOV_AUDIT_ANCHOR_KAFKA"].startswith("kafka:")
    assert env["ALPR_GOV_ACCESS_LOG_MIRROR"].startswith("cassandra://cassandra:")
    # the image's user (10001) owns the mount points, so the named volumes start writable for it
    dockerfile = (REPO / "Dockerfile").read_text()
    for folder in (db_dir, str(Path(env["ALPR_GOV_AUDIT_KEY_FILE"]).parent), str(Path(env["ALPR_GOV_AUDIT_ANCHOR_FILE"]).parent)):
        assert re.search(rf"chown alpr [^\n]*{re.escape(folder)}\b", dockerfile), folder
