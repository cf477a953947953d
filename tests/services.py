"""Session-scoped pytest fixtures for the real services (Kafka, Cassandra, Flink, Triton).

A plain module, not a conftest: ``tests/conftest.py`` imports it, e.g.::

    from services import (  # noqa: F401  (fixtures are found by name)
        kafka_service, cassandra_service, flink_service, triton_service, register_markers)

    def pytest_configure(config):
        register_markers(config)

Each fixture starts its service once per test session through ``infra/services.sh up <svc>``
on free loopback ports, with its own run directory under pytest's temp dir, yields a small
frozen dataclass with the endpoints, and stops it (``services.sh down``) at the end.

Environment:
  ALPR_SERVICES=local     (default) start each service here; fetch jars/wheels first if the
                          cache (${ALPR_CACHE:-<repo>/.cache}) lacks them (needs Maven Central/PyPI once).
  ALPR_SERVICES=external  use services that are already running on the ports in infra/versions.env
                          (or the env overrides, e.g. KAFKA_PORT); nothing is started or stopped.
  ALPR_SERVICES=off       skip every test that needs a service.
Tests that use these fixtures are marked ``@pytest.mark.services``; without ``java`` on PATH
they are skipped (a service test cannot run without its server).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import pytest

__all__ = [
    "kafka_service", "cassandra_service", "flink_service", "triton_service",
    "KafkaService", "CassandraService", "FlinkService", "TritonService",
    "register_markers", "versions_env", "free_ports", "service_runner", "ServiceRunner",
]

REPO = Path(__file__).resolve().parent.parent
INFRA = REPO / "infra"
SERVICES_SH = INFRA / "services.sh"
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- config
def versions_env() -> dict[str, str]:
    """infra/versions.env, with environment variables taking precedence (as services.sh does)."""
    out: dict[str, str] = {}
    for line in (INFRA / "versions.env").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = os.environ.get(key.strip(), value)
    return out


def mode() -> str:
    value = os.environ.get("ALPR_SERVICES", "local").strip().lower() or "local"
    if value not in ("local", "external", "off"):
        raise pytest.UsageError(f"ALPR_SERVICES must be local, external or off, got {value!r}")
    return value


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports that are free on 127.0.0.1 right now."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
            if s.getsockname()[1] not in ports:
                ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def register_markers(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "services: needs a real service (Kafka/Cassandra/Flink/Triton); "
                                       "see tests/services.py and ALPR_SERVICES")


def pytest_configure(config: pytest.Config) -> None:  # active when loaded with -p services
    register_markers(config)


# --------------------------------------------------------------------------- endpoints
@dataclass(frozen=True)
class KafkaService:
    host: str
    port: int
    controller_port: int
    topics: dict[str, str] = field(default_factory=dict)  # role -> topic name
    secrets_dir: Optional[str] = None  # <run>/secrets: <name>.password files (infra/svcauth.py)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def credentials(self, user: str = "admin") -> dict:
        """``ALPR_KAFKA__SASL_*`` settings of a principal (admin, pipeline, gateway, console, agency-CODE)."""
        return {"ALPR_KAFKA__SASL_USERNAME": user, "ALPR_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
                "ALPR_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "ALPR_KAFKA__SASL_PASSWORD_FILE": f"{self.secrets_dir}/kafka-{user}.password"}

    def client_config(self, user: str = "admin", **extra) -> dict:
        """A confluent-kafka config for ``user`` (the session's clients default to admin)."""
        return {"bootstrap.servers": self.bootstrap, **_rdkafka(self.credentials(user)), **extra}


@dataclass(frozen=True)
class CassandraService:
    host: str
    port: int
    storage_port: int
    keyspace: str
    secrets_dir: Optional[str] = None

    @property
    def contact_point(self) -> str:
        return f"{self.host}:{self.port}"

    def credentials(self, user: str = "alpr_app") -> dict:
        """``ALPR_CASSANDRA__*`` settings of a role (alpr_app: the application's; alpr_admin)."""
        return {"ALPR_CASSANDRA__USERNAME": user,
                "ALPR_CASSANDRA__PASSWORD_FILE": f"{self.secrets_dir}/cassandra-{user}.password"}

    def auth_provider(self, user: str = "alpr_app"):
        from alpr.connectors.auth import cassandra_auth_provider

        return cassandra_auth_provider(None, self.credentials(user))


@dataclass(frozen=True)
class FlinkService:
    host: str
    rest_port: int
    rpc_port: int
    task_slots: int            # per TaskManager
    taskmanagers: int
    parallelism: int           # the cluster's parallelism.default
    flink_home: str            # pyflink/ of the Flink job environment (bin/flink, lib/, plugins/)
    python: str                # interpreter of the Flink job environment
    jars: tuple = ()           # flink-sql-connector-kafka + alpr-flink.jar
    run_dir: Optional[str] = None  # <run>/flink (conf/, log/, pids/, checkpoints/) when started here

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def master(self) -> str:
        """Value for ``bin/flink run -m``."""
        return f"{self.host}:{self.rest_port}"

    @property
    def conf_dir(self) -> Optional[str]:
        return f"{self.run_dir}/conf" if self.run_dir else None

    def taskmanager_pids(self) -> list[int]:
        """Live TaskManager JVMs of this cluster (from flink-daemon's pid file)."""
        if not self.run_dir:
            return []
        path = Path(self.run_dir) / "pids" / "flink-alpr-taskexecutor.pid"
        out = []
        for tok in (path.read_text().split() if path.exists() else []):
            try:
                os.kill(int(tok), 0)
                out.append(int(tok))
            except (ValueError, ProcessLookupError):
                pass
        return out


@dataclass(frozen=True)
class TritonService:
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"


# --------------------------------------------------------------------------- runner
class ServiceRunner:
    """Starts/stops one service of infra/services.sh with its own ports and run dir."""

    def __init__(self, name: str, run_dir: Path, ports: dict[str, int]):
        self.name = name
        self.run_dir = run_dir
        self.env = dict(os.environ)
        self.env.update({k: str(v) for k, v in ports.items()})
        self.env["ALPR_RUN"] = str(run_dir)
        self.env.setdefault("ALPR_PYTHON", sys.executable)
        self.log = run_dir / f"services-{name}.log"

    def _sh(self, action: str, timeout: float) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as fh:
            proc = subprocess.run(["bash", str(SERVICES_SH), action, self.name], env=self.env, stdout=fh,
                                  stderr=subprocess.STDOUT, timeout=timeout, check=False)
        if proc.returncode != 0:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"services.sh {action} {self.name} failed (rc={proc.returncode}):\n{tail}")

    def start(self, timeout: float = 900) -> None:
        self._sh("fetch", timeout)  # no-op when the cache already holds it
        try:
            self._sh("up", timeout)
        except BaseException:
            self.stop()
            raise

    # -- fault injection (tests/test_hardening_faults.py) ------------------------------------
    @property
    def pid_file(self) -> Path:
        """Where ``services.sh`` keeps the service's pid (its process-group leader, via setsid)."""
        return self.run_dir / self.name / f"{self.name}.pid"

    def pid(self) -> Optional[int]:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self, timeout: float = 30.0) -> None:
        """SIGKILL the service's whole process group (a crash, not a shutdown) and wait for it."""
        pid = self.pid()
        if pid is None:
            raise RuntimeError(f"{self.name}: no pid file at {self.pid_file}")
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: pid {pid} still alive {timeout:.0f}s after SIGKILL")

    def up(self, timeout: float = 600) -> None:
        """(Re)start on the same ports and run dir (data kept); returns once it is healthy."""
        self._sh("up", timeout)

    def stop(self) -> None:
        try:
            self._sh("down", 180)
        except Exception as exc:  # noqa: BLE001 - report, never mask the test result
            print(f"warning: stopping {self.name}: {exc}", file=sys.stderr)


def _service(name: str, tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int]) -> Iterator[None]:
    yield from _service_in(name, tmp_path_factory, ports, None)


def _service_in(name: str, tmp_path_factory: pytest.TempPathFactory, ports: dict, run_dir: Optional[Path]
                ) -> Iterator[None]:
    m = mode()
    if m == "off":
        pytest.skip("ALPR_SERVICES=off")
    if m == "external":
        yield None
        return
    if shutil.which("java") is None and name != "triton":
        pytest.skip(f"{name}: java is not on PATH")
    runner = ServiceRunner(name, run_dir or tmp_path_factory.mktemp(f"svc-{name}"), ports)
    runner.start()
    _RUNNERS[name] = runner
    try:
        yield None
    finally:
        _RUNNERS.pop(name, None)
        runner.stop()


_RUNNERS: dict[str, ServiceRunner] = {}


def service_runner(name: str) -> ServiceRunner:
    """The runner of a service this session started (request its fixture first), for tests
    that stop, kill and restart it mid-test. Skips under ALPR_SERVICES=external: a test must
    not kill services it does not own."""
    runner = _RUNNERS.get(name)
    if runner is None:
        pytest.skip(f"{name}: fault injection needs a service started by this session (ALPR_SERVICES=local)")
    return runner


def _ports(env_names: list[str]) -> dict[str, int]:
    """Free ports when starting locally; the configured ones for ALPR_SERVICES=external."""
    if mode() == "external":
        cfg = versions_env()
        return {n: int(cfg[n]) for n in env_names}
    return dict(zip(env_names, free_ports(len(env_names))))


def _rdkafka(creds: dict) -> dict:
    from alpr.connectors.auth import kafka_security

    return kafka_security(None, creds)


def _run_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Where the service keeps data and secrets: a fresh dir, or ALPR_RUN (default .run) when external."""
    if mode() == "external":
        return Path(os.environ.get("ALPR_RUN", REPO / ".run"))
    return tmp_path_factory.getbasetemp() / f"svc-{name}-run"


def _session_env(values: dict) -> Iterator[None]:
    """Set ``values`` in os.environ (clients and pipelines started by the tests inherit them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def kafka_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaService]:
    """Kafka with SASL/SCRAM and ACLs. The session's Kafka clients authenticate as the super user
    ``admin`` (ALPR_KAFKA__SASL_* set in os.environ); :meth:`KafkaService.credentials` gives the
    other principals' settings."""
    ports = _ports(["KAFKA_PORT", "KAFKA_CONTROLLER_PORT"])
    cfg = versions_env()
    run_dir = _run_dir(tmp_path_factory, "kafka")
    info = KafkaService(HOST, ports["KAFKA_PORT"], ports["KAFKA_CONTROLLER_PORT"],
                        {role: cfg[f"KAFKA_TOPIC_{role.upper()}"]
                         for role in ("frames", "alerts", "deadletter", "hotlist")}, str(run_dir / "secrets"))
    for _ in _service_in("kafka", tmp_path_factory, ports, run_dir if mode() == "local" else None):
        for _ in _session_env(info.credentials("admin")):
            yield info


@pytest.fixture(scope="session")
def cassandra_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraService]:
    """Cassandra with PasswordAuthenticator + CassandraAuthorizer. The session's clients log in
    as the application role ``alpr_app`` (ALPR_CASSANDRA__* set in os.environ)."""
    ports = _ports(["CASSANDRA_CQL_PORT", "CASSANDRA_STORAGE_PORT"])
    run_dir = _run_dir(tmp_path_factory, "cassandra")
    info = CassandraService(HOST, ports["CASSANDRA_CQL_PORT"], ports["CASSANDRA_STORAGE_PORT"],
                            versions_env()["CASSANDRA_KEYSPACE"], str(run_dir / "secrets"))
    for _ in _service_in("cassandra", tmp_path_factory, ports, run_dir if mode() == "local" else None):
        for _ in _session_env(info.credentials("alpr_app")):
            yield info


@pytest.fixture(scope="session")
def flink_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlinkService]:
    """Flink 2.2 standalone: a JobManager and FLINK_TASKMANAGERS (2) TaskManagers."""
    ports = _ports(["FLINK_REST_PORT", "FLINK_RPC_PORT"])
    ports["FLINK_PROM_PORTS"] = ",".join(str(p) for p in free_ports(4))  # JM + TMs, one each
    cfg = versions_env()
    cache = Path(os.environ.get("ALPR_CACHE", REPO / ".cache"))
    tag = f"{sys.version_info[0]}.{sys.version_info[1]}"
    env_dir = cache / f"flink-env-{cfg['FLINK_VERSION']}-py{tag}"
    connector = cfg["FLINK_KAFKA_CONNECTOR_VERSION"]
    jars = (str(cache / f"flink-sql-connector-kafka-{connector}" / f"flink-sql-connector-kafka-{connector}.jar"),
            str(cache / f"flink-alpr-{cfg['FLINK_VERSION']}" / "alpr-flink.jar"))
    run_dir = None
    m = mode()
    if m == "local":
        run_dir = tmp_path_factory.getbasetemp() / "svc-flink-run"
    for _ in _service_in("flink", tmp_path_factory, ports, run_dir):
        yield FlinkService(HOST, ports["FLINK_REST_PORT"], ports["FLINK_RPC_PORT"], int(cfg["FLINK_TASK_SLOTS"]),
                           int(cfg["FLINK_TASKMANAGERS"]), int(cfg["FLINK_PARALLELISM"]),
                           str(env_dir / "lib" / f"python{tag}" / "site-packages" / "pyflink"),
                           str(env_dir / "bin" / "python"), jars,
                           str(run_dir / "flink") if run_dir else None)


@pytest.fixture(scope="session")
def triton_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonService]:
    ports = _ports(["TRITON_HTTP_PORT", "TRITON_GRPC_PORT", "TRITON_METRICS_PORT"])
    info = TritonService(HOST, ports["TRITON_HTTP_PORT"], ports["TRITON_GRPC_PORT"], ports["TRITON_METRICS_PORT"])
    for _ in _service("triton", tmp_path_factory, ports):
        yield info
