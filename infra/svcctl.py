#!/usr/bin/env python3
"""Health checks and one-shot setup steps for infra/services.sh (run with the project venv).

Subcommands (all exit non-zero with a clear message on failure):
  kafka-wait      --bootstrap H:P --timeout S [--pid-file F]
  kafka-topics    --bootstrap H:P --partitions N TOPIC[:compact] ...
  cassandra-wait  --host H --port P --timeout S [--pid-file F]
  cassandra-schema --host H --port P --file schema.cql [--keyspace K --replication R
                   --retention-s N --deadletter-retention-s N --gc-grace-s N]
  http-wait       --url URL --timeout S [--json-key K] [--pid-file F]
  port-wait       --host H --port P --timeout S [--pid-file F]
  triton-wait     --url http://H:P --models a,b --timeout S [--pid-file F]
  render-schema   --file schema.cql [...same template options...]   (prints the CQL)

``render_schema`` and ``schema_statements`` are importable (tests use them by path).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Optional

DEFAULT_REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


class ServiceError(RuntimeError):
    """A service did not come up or a setup step failed."""


# --------------------------------------------------------------------------- helpers
def _pid_alive(pid_file: Optional[str]) -> bool:
    if not pid_file:
        return True
    try:
        pid = int(Path(pid_file).read_text().strip())
    except (OSError, ValueError):
        return True  # no pid file (yet): cannot tell, keep waiting
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(what: str, probe: Callable[[], object], timeout: float,
               pid_file: Optional[str] = None, interval: float = 0.5) -> object:
    """Call ``probe`` until it returns without raising; fail fast if the process died."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            return probe()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last = exc
        if not _pid_alive(pid_file):
            raise ServiceError(f"{what}: process exited before becoming ready (last error: {last})")
        if time.monotonic() >= deadline:
            raise ServiceError(f"{what}: not ready after {timeout:.0f} s (last error: {last})")
        time.sleep(interval)


# --------------------------------------------------------------------------- Kafka
def kafka_wait(bootstrap: str, timeout: float, pid_file: Optional[str] = None) -> int:
    from confluent_kafka.admin import AdminClient

    from alpr.connectors.auth import kafka_client_config  # credentials: ALPR_KAFKA__SASL_* (infra/svcauth.py)

    admin = AdminClient(kafka_client_config(bootstrap, None, **{"socket.timeout.ms": 3000, "log_level": 0}))

    def probe() -> int:
        md = admin.list_topics(timeout=3)
        if not md.brokers:
            raise ServiceError("no brokers in metadata")
        return len(md.brokers)

    return int(wait_until(f"kafka {bootstrap}", probe, timeout, pid_file))


def kafka_topics(bootstrap: str, specs: Iterable[str], partitions: int, timeout: float = 60) -> list[str]:
    """Create topics that do not exist; ``name:compact`` makes a compacted (1-partition) topic."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from alpr.connectors.auth import kafka_client_config

    admin = AdminClient(kafka_client_config(bootstrap))
    existing = set(admin.list_topics(timeout=10).topics)
    new: list = []
    for spec in specs:
        name, _, kind = spec.partition(":")
        if name in existing:
            continue
        if kind == "compact":
            new.append(NewTopic(name, num_partitions=1, replication_factor=1,
                                config={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                                        "segment.ms": "600000"}))
        elif kind == "":
            new.append(NewTopic(name, num_partitions=partitions, replication_factor=1))
        else:
            raise ServiceError(f"unknown topic kind {kind!r} in {spec!r} (use NAME or NAME:compact)")
    created = []
    if new:
        for name, fut in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
            try:
                fut.result()
                created.append(name)
            except Exception as exc:  # noqa: BLE001
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise ServiceError(f"cannot create topic {name}: {exc}") from exc
    return created


# --------------------------------------------------------------------------- Cassandra
def _cassandra_session(host: str, port: int, connect_timeout: float = 5, retry_s: float = 60.0):
    """A session to the node; a node that was just (re)started on busy cores may refuse the first
    connections for a few seconds (seen in CI: the roles step connected, the schema step did
    not), so connecting is retried for ``retry_s`` seconds."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import RoundRobinPolicy

    from alpr.connectors.auth import cassandra_auth_provider  # ALPR_CASSANDRA__* (infra/svcauth.py)

    deadline = time.monotonic() + retry_s
    while True:
        profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=60)
        cluster = Cluster([host], port=port, connect_timeout=connect_timeout,
                          execution_profiles={EXEC_PROFILE_DEFAULT: profile}, protocol_version=5,
                          auth_provider=cassandra_auth_provider())
        try:
            return cluster, cluster.connect()
        except NoHostAvailable:
            cluster.shutdown()
            if time.monotonic() >= deadline:
                raise
            time.sleep(2.0)


def cassandra_wait(host: str, port: int, timeout: float, pid_file: Optional[str] = None) -> str:
    def probe() -> str:
        cluster, session = _cassandra_session(host, port, retry_s=0)
        try:
            row = session.execute("SELECT release_version FROM system.local").one()
            return row.release_version
        finally:
            cluster.shutdown()

    return str(wait_until(f"cassandra {host}:{port}", probe, timeout, pid_file, interval=2))


def render_schema(text: str, keyspace: str = "alpr", replication: str = DEFAULT_REPLICATION,
                  retention_s: int = 31_536_000, deadletter_retention_s: int = 2_592_000,
                  gc_grace_s: int = 3600) -> str:
    """Fill the ``{placeholder}`` markers of infra/cassandra/schema.cql (plain replacement,
    so the CQL maps' own braces stay untouched)."""
    if not keyspace.isidentifier():
        raise ValueError(f"bad keyspace name {keyspace!r}")
    for name, value in (("retention_s", retention_s), ("deadletter_retention_s", deadletter_retention_s),
                        ("gc_grace_s", gc_grace_s)):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    repl = replication.strip()
    if not (repl.startswith("{") and repl.endswith("}") and "class" in repl):
        raise ValueError(f"replication must be a CQL map with a 'class', got {replication!r}")
    out = text
    for key, value in (("keyspace", keyspace), ("replication", repl),
                       ("retention_s", str(int(retention_s))),
                       ("deadletter_retention_s", str(int(deadletter_retention_s))),
                       ("gc_grace_s", str(int(gc_grace_s)))):
        out = out.replace("{" + key + "}", value)
    return out


def schema_statements(cql: str) -> list[str]:
    """Split rendered CQL into statements (``--`` comments dropped, ';' at line end)."""
    lines = [ln for ln in cql.splitlines() if not ln.strip().startswith("--")]
    body = "\n".join(lines)
    return [s.strip() for s in body.split(";\n") if s.strip().rstrip(";").strip()]


def cassandra_schema(host: str, port: int, cql: str) -> int:
    cluster, session = _cassandra_session(host, port)
    try:
        n = 0
        for stmt in schema_statements(cql):
            session.execute(stmt.rstrip(";"), timeout=60)
            n += 1
        cluster.control_connection.wait_for_schema_agreement()
        return n
    finally:
        cluster.shutdown()


# --------------------------------------------------------------------------- HTTP / ports
def http_get_json(url: str, timeout: float = 3) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        body = resp.read()
    return json.loads(body) if body else None


def http_wait(url: str, timeout: float, json_key: Optional[str] = None,
              pid_file: Optional[str] = None) -> object:
    def probe() -> object:
        data = http_get_json(url)
        if json_key is not None:
            if not isinstance(data, dict) or json_key not in data:
                raise ServiceError(f"{url}: no {json_key!r} in answer")
            return data[json_key]
        return data

    return wait_until(f"GET {url}", probe, timeout, pid_file)


def port_wait(host: str, port: int, timeout: float, pid_file: Optional[str] = None) -> None:
    def probe() -> None:
        with socket.create_connection((host, port), timeout=2):
            pass

    wait_until(f"port {host}:{port}", probe, timeout, pid_file)


def triton_wait(url: str, models: list[str], timeout: float, pid_file: Optional[str] = None) -> None:
    def probe() -> None:
        for path in ["/v2/health/ready", *[f"/v2/models/{m}/ready" for m in models]]:
            try:
                with urllib.request.urlopen(url + path, timeout=3) as resp:  # noqa: S310
                    if resp.status != 200:
                        raise ServiceError(f"{path}: HTTP {resp.status}")
            except urllib.error.HTTPError as exc:
                raise ServiceError(f"{path}: HTTP {exc.code}") from exc

    wait_until(f"triton {url} models {models}", probe, timeout, pid_file)


# --------------------------------------------------------------------------- CLI
def _schema_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", required=True)
    p.add_argument("--keyspace", default=os.environ.get("CASSANDRA_KEYSPACE", "alpr"))
    p.add_argument("--replication", default=os.environ.get("CASSANDRA_REPLICATION", DEFAULT_REPLICATION))
    p.add_argument("--retention-s", type=int, default=int(os.environ.get("CASSANDRA_RETENTION_S", 31_536_000)))
    p.add_argument("--deadletter-retention-s", type=int,
                   default=int(os.environ.get("CASSANDRA_DEADLETTER_RETENTION_S", 2_592_000)))
    p.add_argument("--gc-grace-s", type=int, default=int(os.environ.get("CASSANDRA_GC_GRACE_S", 3600)))


def _render(a: argparse.Namespace) -> str:
    return render_schema(Path(a.file).read_text(), a.keyspace, a.replication, a.retention_s,
                         a.deadletter_retention_s, a.gc_grace_s)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="svcctl", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("kafka-wait")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--timeout", type=float, default=90)
    p.add_argument("--pid-file")
    p = sub.add_parser("kafka-topics")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("topics", nargs="+")
    p = sub.add_parser("cassandra-wait")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--pid-file")
    p = sub.add_parser("cassandra-schema")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    _schema_args(p)
    p = sub.add_parser("render-schema")
    _schema_args(p)
    p = sub.add_parser("http-wait")
    p.add_argument("--url", required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--json-key")
    p.add_argument("--pid-file")
    p = sub.add_parser("port-wait")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--pid-file")
    p = sub.add_parser("triton-wait")
    p.add_argument("--url", required=True)
    p.add_argument("--models", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--pid-file")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "kafka-wait":
            print(f"kafka ready: {kafka_wait(a.bootstrap, a.timeout, a.pid_file)} broker(s)")
        elif a.cmd == "kafka-topics":
            created = kafka_topics(a.bootstrap, a.topics, a.partitions)
            print(f"kafka topics created: {' '.join(created) or '(none, all existed)'}")
        elif a.cmd == "cassandra-wait":
            print(f"cassandra ready: release {cassandra_wait(a.host, a.port, a.timeout, a.pid_file)}")
        elif a.cmd == "cassandra-schema":
            print(f"cassandra schema applied: {cassandra_schema(a.host, a.port, _render(a))} statements")
        elif a.cmd == "render-schema":
            sys.stdout.write(_render(a))
        elif a.cmd == "http-wait":
            v = http_wait(a.url, a.timeout, a.json_key, a.pid_file)
            print(f"ready: {a.url}" + (f" {a.json_key}={v}" if a.json_key else ""))
        elif a.cmd == "port-wait":
            port_wait(a.host, a.port, a.timeout, a.pid_file)
            print(f"port open: {a.host}:{a.port}")
        elif a.cmd == "triton-wait":
            triton_wait(a.url, [m for m in a.models.split(",") if m], a.timeout, a.pid_file)
            print(f"triton ready: {a.url} ({a.models})")
    except (ServiceError, ValueError) as exc:
        print(f"svcctl {a.cmd}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
