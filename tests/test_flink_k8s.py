"""infra/flink/k8s: the Flink Kubernetes Operator manifest and its scaling note, without a cluster.
Every YAML parses; the FlinkDeployment sends JPEG frames to Triton (``triton+frames://``), takes
Kafka and Cassandra credentials from Kubernetes Secrets (the names alpr.connectors.auth reads),
runs the job with valid arguments and settings, and names only Triton models that exist."""
import re
import shlex
from pathlib import Path

import pytest
import yaml

from alpr.config import load_settings

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "infra" / "flink" / "k8s"
MODELS = REPO / "infra" / "triton" / "model_repository"
AUTH = (REPO / "connectors" / "auth.py").read_text()
CREDENTIAL_ENV = ("ALPR_KAFKA__SASL_USERNAME", "ALPR_KAFKA__SASL_PASSWORD_FILE",
                  "ALPR_CASSANDRA__USERNAME", "ALPR_CASSANDRA__PASSWORD_FILE")


def _docs() -> list[dict]:
    out = []
    for path in sorted(K8S.glob("*.y*ml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{path.name}: no document"
        out += docs
    return out


def _deployment() -> dict:
    found = [d for d in _docs() if d.get("kind") == "FlinkDeployment"]
    assert len(found) == 1, "one FlinkDeployment in infra/flink/k8s"
    return found[0]


def _pod_specs(dep: dict) -> list[dict]:
    spec = dep["spec"]
    templates = [spec.get("podTemplate")] + [spec.get(r, {}).get("podTemplate") for r in ("jobManager", "taskManager")]
    return [t["spec"] for t in templates if t]


def _env(dep: dict) -> dict[str, dict]:
    out = {}
    for pod in _pod_specs(dep):
        for c in pod.get("containers", []):
            out.update({e["name"]: e for e in c.get("env", [])})
    return out


def _secret_mounts(dep: dict) -> list[str]:
    """Mount paths of volumes that are Kubernetes Secrets."""
    out = []
    for pod in _pod_specs(dep):
        secret_volumes = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
        for c in pod.get("containers", []):
            out += [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in secret_volumes]
    return out


def test_every_yaml_parses_into_kubernetes_objects():
    docs = _docs()
    assert docs and all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in docs)
    dep = _deployment()
    assert dep["apiVersion"] == "flink.apache.org/v1beta1"
    assert dep["spec"]["job"]["upgradeMode"] == "savepoint"


def test_inference_sends_jpeg_frames_to_triton():
    assert _env(_deployment())["ALPR_INFERENCE"]["value"].startswith("triton+frames://")


def test_credentials_come_from_secrets():
    dep = _deployment()
    env = _env(dep)
    mounts = _secret_mounts(dep)
    for name in CREDENTIAL_ENV:
        assert name in AUTH, f"{name}: alpr.connectors.auth does not read it"
        assert name in env, f"{name} is not set"
    for name in ("ALPR_KAFKA__SASL_USERNAME", "ALPR_CASSANDRA__USERNAME"):
        assert "secretKeyRef" in env[name].get("valueFrom", {}), f"{name}: not from a Secret"
    for name, e in env.items():
        if re.search(r"PASSWORD|SECRET|TOKEN", name):
            value = e.get("value")
            assert value is None or any(value.startswith(m.rstrip("/") + "/") for m in mounts), \
                f"{name}={value!r}: a literal, not a file from a Secret volume"
    for name in ("ALPR_KAFKA__SASL_PASSWORD_FILE", "ALPR_CASSANDRA__PASSWORD_FILE"):
        assert "value" in env[name], f"{name}: a file path from a Secret volume"
    assert not re.search(r"(?i)password:\s*[\"']?\w", "\n".join(p.read_text() for p in K8S.glob("*.y*ml")))


def test_job_arguments_and_settings_are_valid():
    """The job's arguments parse with the job's own parser (exactly-once alerts), and the
    manifest's literal ALPR_* values load as Flink runner settings (no unknown key)."""
    from alpr.pipelines.flink.job import parse_args

    dep = _deployment()
    args = dep["spec"]["job"]["args"]
    assert args[:2] == ["-py", "/app/pipelines/flink/job.py"] and args[2] == "--"
    parsed = parse_args(args[3:])
    assert parsed.alerts_delivery == "exactly-once"
    env = {k: e["value"] for k, e in _env(dep).items() if k.startswith("ALPR_") and "value" in e}
    s = load_settings(env=env, runner="flink")
    assert (s.source, s.alerts_sink, s.deadletter_sink) == ("kafka", "kafka", "kafka")
    assert s.store.startswith("cassandra://")


@pytest.mark.parametrize("doc", ["flinkdeployment.yaml", "SCALING.md"])
def test_named_triton_models_exist(doc):
    text = (K8S / doc).read_text()
    models = {p.name for p in MODELS.iterdir() if (p / "config.pbtxt").is_file()}
    named = set(re.findall(r"\bplate_[a-z0-9_]+\b", text)) | set(re.findall(r"model_repository/([\w-]+)", text))
    assert "plate_read" in models
    assert named <= models, f"{doc} names Triton models that do not exist: {sorted(named - models)}"
    if doc == "SCALING.md":
        assert "plate_read" in named and "triton+frames://" in text


def test_scaling_note_names_only_real_paths_and_flags():
    from alpr.app.cli import build_parser

    text = (K8S / "SCALING.md").read_text()
    for path in re.findall(r"`(infra/[\w./-]+)`", text):
        assert (REPO / path).exists(), path
    run = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices and "run" in a.choices)
    options = {o for a in run.choices["run"]._actions for o in a.option_strings}
    for cmd in re.findall(r"`(alpr run [^`]+)`", " ".join(text.split())):
        for flag in (w for w in shlex.split(cmd) if w.startswith("--")):
            assert flag in options, f"SCALING.md: alpr run has no {flag}"
