#!/usr/bin/env python3
"""Credentials, principals and grants for the closed services (run by infra/services.sh with the
project venv; the compose stack runs the same steps).

Subcommands:
  secrets          --dir D NAME...          create D/NAME.password (random, 0600) unless present
  kafka-setup      --bootstrap H:P --secrets D --topics-env [--agencies A,B] [--anchor-topic T]
                   as the super user `admin` (ALPR_KAFKA__SASL_* in the environment): SCRAM-SHA-512
                   users pipeline, gateway, console and agency-<CODE> with their ACLs, and each
                   agency's alerts topic <alerts>.<CODE>
  kafka-agency     --bootstrap H:P --secrets D --agency CODE [--alerts-topic T] [--partitions N]
                   one more agency: its principal, its topic, its ACLs
  cassandra-setup  --host H --port P --secrets D --keyspace K --timeout S [--pid-file F] [--grants]
                   wait until Cassandra takes logins; replace the default cassandra/cassandra
                   superuser by `alpr_admin` (generated password) and drop it; create the
                   application role `alpr_app` (LOGIN, not superuser); with --grants (after the
                   schema exists) grant alpr_app SELECT, MODIFY and CREATE on the keyspace only

Principals (Kafka ACLs, StandardAuthorizer, allow.everyone.if.no.acl.found=false):
  admin         super user: setup only
  pipeline      reads frames and hotlist, writes alerts, <alerts>.*, deadletter and health topics,
                groups alpr-*, transactional ids alpr* (exactly-once alerts), idempotent writes
  gateway       writes frames
  console       reads the alerts topic (alpr alerts tail filters per user agency), reads/writes the
                hotlist topic, creates/reads/writes the audit anchor topic, groups alpr-*
  agency-CODE   reads ONLY <alerts>.CODE, with consumer groups <alerts>.CODE*
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from svcctl import ServiceError, wait_until  # noqa: E402

ANCHOR_TOPIC = "alpr.audit.anchors"


def secret(directory: Path, name: str) -> Path:
    """``directory/name.password``: created with a random password (0600) unless it exists."""
    path = directory / f"{name}.password"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(24) + "\n")
    return path


def write_env(directory: Path, name: str, values: dict) -> Path:
    """``directory/name.env`` (0600): KEY=VALUE lines to source (``set -a; . FILE``) or --env-file.
    Skipped where the directory is read-only to this user (compose's secrets volume)."""
    path = directory / f"{name}.env"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError:
        return path
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{k}={v}\n" for k, v in values.items())
    return path


def kafka_env(directory: Path, user: str) -> dict:
    return {"ALPR_KAFKA__SASL_USERNAME": user, "ALPR_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "ALPR_KAFKA__SASL_PASSWORD_FILE": str(secret(directory, f"kafka-{user}"))}


# --------------------------------------------------------------------------- Kafka
def _admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    from alpr.connectors.auth import kafka_client_config

    return AdminClient(kafka_client_config(bootstrap))  # the admin's credentials: ALPR_KAFKA__SASL_*


def _wait_all(futures, what: str, timeout: float = 60) -> None:
    items = futures.items() if isinstance(futures, dict) else enumerate(futures)
    for key, fut in items:
        try:
            fut.result(timeout)
        except Exception as exc:  # noqa: BLE001
            if "ALREADY_EXISTS" not in str(exc):
                raise ServiceError(f"kafka: {what} {key}: {exc}") from exc


def scram_users(admin, directory: Path, users: list[str]) -> None:
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    ups = [UserScramCredentialUpsertion(u, info, secret(directory, f"kafka-{u}").read_text().strip().encode())
           for u in users]
    _wait_all(admin.alter_user_scram_credentials(ups), "SCRAM user")


def _acl(restype: str, name: str, pattern: str, user: str, op: str):
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, ResourcePatternType,
                                       ResourceType)

    return AclBinding(getattr(ResourceType, restype), name, getattr(ResourcePatternType, pattern), f"User:{user}",
                      "*", getattr(AclOperation, op), AclPermissionType.ALLOW)


def pipeline_acls(t: dict) -> list:
    out = []
    for topic in (t["frames"], t["hotlist"]):
        out += [_acl("TOPIC", topic, "LITERAL", "pipeline", op) for op in ("READ", "DESCRIBE")]
    for topic in (t["alerts"], t["deadletter"]):
        out += [_acl("TOPIC", topic, "LITERAL", "pipeline", op) for op in ("WRITE", "DESCRIBE")]
    for prefix in (f"{t['alerts']}.", "health"):  # agency alert topics, the Flink job's health topic
        out += [_acl("TOPIC", prefix, "PREFIXED", "pipeline", op) for op in ("WRITE", "DESCRIBE")]
    out += [_acl("GROUP", "alpr-", "PREFIXED", "pipeline", "READ"),
            _acl("TRANSACTIONAL_ID", "alpr", "PREFIXED", "pipeline", "WRITE"),
            _acl("TRANSACTIONAL_ID", "alpr", "PREFIXED", "pipeline", "DESCRIBE"),
            _acl("BROKER", "kafka-cluster", "LITERAL", "pipeline", "IDEMPOTENT_WRITE")]
    return out


def gateway_acls(t: dict) -> list:
    return [_acl("TOPIC", t["frames"], "LITERAL", "gateway", op) for op in ("WRITE", "DESCRIBE")] + \
           [_acl("BROKER", "kafka-cluster", "LITERAL", "gateway", "IDEMPOTENT_WRITE")]


def console_acls(t: dict, anchor_topic: str) -> list:
    out = [_acl("TOPIC", t["alerts"], "LITERAL", "console", op) for op in ("READ", "DESCRIBE")]
    out += [_acl("TOPIC", t["hotlist"], "LITERAL", "console", op)
            for op in ("READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS")]
    out += [_acl("TOPIC", anchor_topic, "LITERAL", "console", op) for op in ("READ", "WRITE", "DESCRIBE", "CREATE")]
    out += [_acl("GROUP", "alpr-", "PREFIXED", "console", "READ"),
            _acl("BROKER", "kafka-cluster", "LITERAL", "console", "IDEMPOTENT_WRITE")]
    return out


def agency_acls(alerts_topic: str, agency: str) -> list:
    user, topic = f"agency-{agency}", f"{alerts_topic}.{agency}"
    return [_acl("TOPIC", topic, "LITERAL", user, op) for op in ("READ", "DESCRIBE")] + \
           [_acl("GROUP", topic, "PREFIXED", user, "READ")]


def _check_agency(agency: str) -> str:
    if not agency or not all(c.isalnum() or c in "-_" for c in agency):
        raise ServiceError(f"bad agency code {agency!r} (letters, digits, - and _)")
    return agency


def kafka_agency(bootstrap: str, directory: Path, agency: str, alerts_topic: str, partitions: int) -> None:
    from svcctl import kafka_topics

    agency = _check_agency(agency)
    admin = _admin(bootstrap)
    scram_users(admin, directory, [f"agency-{agency}"])
    kafka_topics(bootstrap, [f"{alerts_topic}.{agency}"], partitions)
    _wait_all(admin.create_acls(agency_acls(alerts_topic, agency)), "ACL")
    write_env(directory, f"kafka-agency-{agency}", kafka_env(directory, f"agency-{agency}"))


def kafka_setup(bootstrap: str, directory: Path, topics: dict, agencies: list[str], partitions: int,
                anchor_topic: str = ANCHOR_TOPIC) -> None:
    admin = _admin(bootstrap)
    scram_users(admin, directory, ["pipeline", "gateway", "console"])
    acls = pipeline_acls(topics) + gateway_acls(topics) + console_acls(topics, anchor_topic)
    _wait_all(admin.create_acls(acls), "ACL")
    for user in ("admin", "pipeline", "gateway", "console"):
        write_env(directory, f"kafka-{user}", kafka_env(directory, user))
    for agency in agencies:
        kafka_agency(bootstrap, directory, agency, topics["alerts"], partitions)


# --------------------------------------------------------------------------- Cassandra
def _cassandra(host: str, port: int, user: str, password: str):
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster

    cluster = Cluster([host], port=port, protocol_version=5, connect_timeout=5,
                      auth_provider=PlainTextAuthProvider(user, password))
    try:
        return cluster, cluster.connect()
    except BaseException:
        cluster.shutdown()
        raise


def cassandra_setup(host: str, port: int, directory: Path, keyspace: str, timeout: float,
                    pid_file: str | None = None, grants: bool = False) -> None:
    if not keyspace.isidentifier():
        raise ServiceError(f"bad keyspace name {keyspace!r}")
    admin_pw = secret(directory, "cassandra-alpr_admin").read_text().strip()
    app_pw = secret(directory, "cassandra-alpr_app").read_text().strip()

    def login():  # alpr_admin once set up, else the default superuser of a fresh node
        try:
            return _cassandra(host, port, "alpr_admin", admin_pw), True
        except Exception as first:  # noqa: BLE001
            try:
                return _cassandra(host, port, "cassandra", "cassandra"), False
            except Exception:  # noqa: BLE001
                raise first from None

    (cluster, session), ready = wait_until(f"cassandra {host}:{port} login", login, timeout, pid_file, interval=2)
    try:
        if not ready:  # fresh node: a superuser of our own, then the default one loses login and superuser
            session.execute("CREATE ROLE IF NOT EXISTS alpr_admin WITH SUPERUSER = true AND LOGIN = true "
                            "AND PASSWORD = %s", (admin_pw,))
            cluster.shutdown()
            (cluster, session), _ = wait_until("cassandra alpr_admin login", login, 60, pid_file, interval=1)
        session.execute("DROP ROLE IF EXISTS cassandra")  # the well-known default superuser is gone
        session.execute("CREATE ROLE IF NOT EXISTS alpr_app WITH SUPERUSER = false AND LOGIN = true "
                        "AND PASSWORD = %s", (app_pw,))
        if grants:
            for perm in ("SELECT", "MODIFY", "CREATE"):  # CREATE: the stores' CREATE TABLE IF NOT EXISTS
                session.execute(f"GRANT {perm} ON KEYSPACE {keyspace} TO alpr_app")
    finally:
        cluster.shutdown()
    for user in ("alpr_admin", "alpr_app"):
        write_env(directory, f"cassandra-{user}", {
            "ALPR_CASSANDRA__USERNAME": user,
            "ALPR_CASSANDRA__PASSWORD_FILE": str(secret(directory, f"cassandra-{user}"))})


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("secrets")
    s.add_argument("--dir", required=True)
    s.add_argument("names", nargs="+")
    k = sub.add_parser("kafka-setup")
    k.add_argument("--bootstrap", required=True)
    k.add_argument("--secrets", required=True)
    k.add_argument("--agencies", default="")
    k.add_argument("--anchor-topic", default=ANCHOR_TOPIC)
    a = sub.add_parser("kafka-agency")
    a.add_argument("--bootstrap", required=True)
    a.add_argument("--secrets", required=True)
    a.add_argument("--agency", required=True)
    for q in (k, a):
        q.add_argument("--partitions", type=int, default=int(os.environ.get("KAFKA_TOPIC_PARTITIONS", "2")))
    a.add_argument("--alerts-topic", default=os.environ.get("KAFKA_TOPIC_ALERTS", "alerts"))
    c = sub.add_parser("cassandra-setup")
    c.add_argument("--host", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--secrets", required=True)
    c.add_argument("--keyspace", default="alpr")
    c.add_argument("--timeout", type=float, default=240)
    c.add_argument("--pid-file")
    c.add_argument("--grants", action="store_true")
    args = p.parse_args(argv)
    try:
        if args.cmd == "secrets":
            for name in args.names:
                secret(Path(args.dir), name)
        elif args.cmd == "kafka-setup":
            topics = {r: os.environ.get(f"KAFKA_TOPIC_{r.upper()}", r) for r in ("frames", "alerts", "deadletter", "hotlist")}
            agencies = [x.strip() for x in args.agencies.split(",") if x.strip()]
            kafka_setup(args.bootstrap, Path(args.secrets), topics, agencies, args.partitions, args.anchor_topic)
            print(f"kafka: principals admin, pipeline, gateway, console{''.join(', agency-' + x for x in agencies)}")
        elif args.cmd == "kafka-agency":
            kafka_agency(args.bootstrap, Path(args.secrets), args.agency, args.alerts_topic, args.partitions)
            print(f"kafka: principal agency-{args.agency} reads {args.alerts_topic}.{args.agency} only")
        else:
            cassandra_setup(args.host, args.port, Path(args.secrets), args.keyspace, args.timeout, args.pid_file,
                            args.grants)
            print("cassandra: roles alpr_admin (superuser), alpr_app" + (" (granted on " + args.keyspace + ")"
                                                                        if args.grants else ""))
    except (ServiceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
