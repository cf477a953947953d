"""Service credentials: Kafka SASL/SCRAM and Cassandra PasswordAuthenticator, one place.

``infra/services.sh`` (and the compose stack) start Kafka and Cassandra closed: Kafka's client
listener takes SASL/SCRAM only and authorizes with ACLs, Cassandra takes a role and password.
Every client in this project gets its credentials here, from (highest first):

* the settings object it was given (``Settings.kafka.sasl_*``, ``Settings.cassandra.*``),
* the environment, under the same names (``ALPR_KAFKA__SASL_USERNAME``,
  ``ALPR_KAFKA__SASL_PASSWORD_FILE``, ``ALPR_KAFKA__SASL_MECHANISM``,
  ``ALPR_KAFKA__SECURITY_PROTOCOL``, ``ALPR_CASSANDRA__USERNAME``, ``ALPR_CASSANDRA__PASSWORD_FILE``),
  so that clients built from a bare bootstrap address (the camera gateway, ``alpr alerts tail``,
  the audit anchor sink) authenticate the same way.

A password is only ever read from a file (a secret file, 0600: ``infra/services.sh`` writes
them to ``<run>/secrets/``, compose mounts them as secrets), never from a setting's value, so
that no password lands in a settings dump, a process list or a log. With no username set, the
client connects unauthenticated, which a closed service refuses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
# the fat flink-sql-connector-kafka jar shades the Kafka client: its login module has this name
FLINK_SCRAM_LOGIN_MODULE = "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"


class CredentialsError(ValueError):
    """A credential setting is incomplete or its secret file cannot be read."""


def read_secret(path: str) -> str:
    """The first line of a secret file, stripped."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CredentialsError(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    secret = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise CredentialsError(f"secret file {path} is empty")
    return secret


def _pick(cfg: Any, name: str, env_key: str, env: Optional[Mapping[str, str]]) -> Optional[str]:
    value = getattr(cfg, name, None) if cfg is not None else None
    if value in (None, ""):
        value = (os.environ if env is None else env).get(env_key) or None
    return value


def kafka_credentials(cfg: Any = None, env: Optional[Mapping[str, str]] = None) -> dict:
    """``{"protocol", "mechanism", "username", "password"}`` for a Kafka client (username and
    password ``None`` without SASL). ``cfg``: a ``KafkaConfig`` or ``None`` (environment only)."""
    user = _pick(cfg, "sasl_username", "ALPR_KAFKA__SASL_USERNAME", env)
    pw_file = _pick(cfg, "sasl_password_file", "ALPR_KAFKA__SASL_PASSWORD_FILE", env)
    mechanism = (_pick(cfg, "sasl_mechanism", "ALPR_KAFKA__SASL_MECHANISM", env) or "SCRAM-SHA-512").upper()
    protocol = _pick(cfg, "security_protocol", "ALPR_KAFKA__SECURITY_PROTOCOL", env)
    protocol = (protocol or ("SASL_PLAINTEXT" if user else "PLAINTEXT")).upper()
    if protocol not in PROTOCOLS:
        raise CredentialsError(f"kafka.security_protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if not protocol.startswith("SASL_"):
        return {"protocol": protocol, "mechanism": None, "username": None, "password": None}
    if mechanism not in SCRAM_MECHANISMS:
        raise CredentialsError(f"kafka.sasl_mechanism must be one of {', '.join(SCRAM_MECHANISMS)}, got {mechanism!r}")
    if not user or not pw_file:
        raise CredentialsError("kafka: SASL needs kafka.sasl_username and kafka.sasl_password_file "
                               "(ALPR_KAFKA__SASL_USERNAME, ALPR_KAFKA__SASL_PASSWORD_FILE)")
    return {"protocol": protocol, "mechanism": mechanism, "username": user, "password": read_secret(pw_file)}


def kafka_security(cfg: Any = None, env: Optional[Mapping[str, str]] = None) -> dict:
    """librdkafka (confluent-kafka) properties for the credentials: merge into a client config."""
    c = kafka_credentials(cfg, env)
    if c["username"] is None:
        return {"security.protocol": c["protocol"].lower()} if c["protocol"] != "PLAINTEXT" else {}
    return {"security.protocol": c["protocol"].lower(), "sasl.mechanism": c["mechanism"],
            "sasl.username": c["username"], "sasl.password": c["password"]}


def kafka_client_config(bootstrap: str, cfg: Any = None, **extra: Any) -> dict:
    """A confluent-kafka client config: bootstrap servers, credentials, then ``extra``."""
    out = {"bootstrap.servers": bootstrap, **kafka_security(cfg)}
    out.update(extra)
    return out


def _jaas_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def kafka_java_properties(cfg: Any = None, env: Optional[Mapping[str, str]] = None,
                          login_module: str = FLINK_SCRAM_LOGIN_MODULE) -> dict:
    """The same credentials as Java Kafka client properties (Flink's KafkaSource/KafkaSink,
    whose fat connector jar needs the shaded login module name)."""
    c = kafka_credentials(cfg, env)
    if c["username"] is None:
        return {"security.protocol": c["protocol"]} if c["protocol"] != "PLAINTEXT" else {}
    jaas = (f'{login_module} required username="{_jaas_quote(c["username"])}" '
            f'password="{_jaas_quote(c["password"])}";')
    return {"security.protocol": c["protocol"], "sasl.mechanism": c["mechanism"], "sasl.jaas.config": jaas}


def cassandra_auth_provider(cfg: Any = None, env: Optional[Mapping[str, str]] = None):
    """A ``PlainTextAuthProvider`` for the Cassandra driver, or ``None`` without a username.
    ``cfg``: a ``CassandraConfig`` or ``None`` (environment only)."""
    user = _pick(cfg, "username", "ALPR_CASSANDRA__USERNAME", env)
    if not user:
        return None
    pw_file = _pick(cfg, "password_file", "ALPR_CASSANDRA__PASSWORD_FILE", env)
    if not pw_file:
        raise CredentialsError("cassandra: a username needs cassandra.password_file (ALPR_CASSANDRA__PASSWORD_FILE)")
    from cassandra.auth import PlainTextAuthProvider

    return PlainTextAuthProvider(username=user, password=read_secret(pw_file))


def with_credentials(config: dict, cfg: Any = None) -> dict:
    """``config`` (a confluent-kafka client config) plus the credentials' properties."""
    return {**config, **kafka_security(cfg)}
