"""Before a run: are the services the settings name reachable? One clear error instead of a
pipeline full of tracebacks (a Beam bundle retried against a closed port).

The probe is a TCP connect with a short timeout to each endpoint the settings use (Cassandra
store, Kafka source/sinks, Triton inference). Failures after the start are the adapters' business
(their retries with backoff); this only catches "nothing is listening there" up front.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit

from alpr.config import Settings


class ServiceUnreachable(ConnectionError):
    """A configured service does not accept connections."""


@dataclass(frozen=True)
class Endpoint:
    service: str     # Cassandra | Kafka | Triton
    host: str
    port: int
    setting: str     # the setting / flag that names it
    hint: str


def endpoints(settings: Settings) -> Iterator[Endpoint]:
    if settings.store.startswith("cassandra://"):
        u = urlsplit(settings.store)
        yield Endpoint("Cassandra", u.hostname or "127.0.0.1", u.port or 9042, "--store / ALPR_STORE",
                       "start it (make services-up) or use --store sqlite:.run/alpr.db")
    if settings.inference.startswith(("triton://", "triton+frames://")):
        u = urlsplit(settings.inference)
        yield Endpoint("Triton", u.hostname or "127.0.0.1", u.port or 8001, "--inference / ALPR_INFERENCE",
                       "start it (make services-up) or use --inference onnx")
    if "kafka" in (settings.source, settings.alerts_sink, settings.deadletter_sink):
        for hostport in settings.kafka.bootstrap.split(","):
            host, _, port = hostport.strip().rpartition(":")
            yield Endpoint("Kafka", host or "127.0.0.1", int(port or 9092), "ALPR_KAFKA__BOOTSTRAP",
                           "start it (make services-up) or set ALPR_KAFKA__BOOTSTRAP=HOST:PORT")
            break  # one bootstrap broker answering is enough for the client


def check(settings: Settings, timeout_s: float = 3.0) -> None:
    """Raise :class:`ServiceUnreachable` naming the first endpoint that refuses connections."""
    for ep in endpoints(settings):
        try:
            with socket.create_connection((ep.host, ep.port), timeout=timeout_s):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ServiceUnreachable(
                f"cannot reach {ep.service} at {ep.host}:{ep.port} ({reason}; from {ep.setting}): {ep.hint}") from exc
