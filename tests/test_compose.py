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
    assert env["ALPR_INFERENCE"].startswith("triton://") and env["ALPR_STORE"].startswith("cassandra://")
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
