"""Serving ``/metrics``: once per process and port.

* :func:`start_metrics_server` — the driver (``graph.run`` when ``Settings.metrics_port`` is
  set), ``alpr metrics serve``, a camera gateway, the governance API process.
* :func:`ensure_worker_server` — worker processes: when the environment has
  ``ALPR_METRICS_PORT``, the first metric update in the process serves ``/metrics`` on the
  first free port of ``ALPR_METRICS_PORT .. +ALPR_METRICS_PORT_SPAN-1`` (default span 8, so
  several workers per host get one port each; scrape the range).

The same port answers ``GET /cameras`` (JSON): the per-camera ``CameraHealth/1`` records of the
bounded camera table (:mod:`alpr.observability.cameras`), optionally filtered with
``?agency=A`` and ``?status=ok|silent|never_seen|no_frame``. That is where per-camera detail lives;
``/metrics`` has only per-agency series and a bounded top-k of silent cameras.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_SERVED: dict[int, "MetricsServer"] = {}
_WORKER_CHECKED = False


class MetricsServerError(RuntimeError):
    """The ``/metrics`` endpoint could not be started."""


def _app(registry):
    metrics_app = make_wsgi_app(registry)

    def app(environ, start_response):
        if environ.get("PATH_INFO", "").rstrip("/") != "/cameras":
            return metrics_app(environ, start_response)
        from .cameras import health_records

        query = parse_qs(environ.get("QUERY_STRING", ""))
        records = health_records()
        for key in ("agency", "status"):
            if key in query:
                records = [r for r in records if r[key] in query[key]]
        body = json.dumps(records).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - scrapes are not worth a log line
        pass


def _serve(port: int, addr: str, registry):
    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET

    httpd = make_server(addr, port, _app(registry), Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, name=f"metrics-{port}", daemon=True)
    thread.start()
    return httpd, thread


@dataclass
class MetricsServer:
    addr: str
    port: int
    _server: object = None
    _thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.addr in ("", "0.0.0.0") else self.addr
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving (tests; a process normally serves until it exits)."""
        with _LOCK:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None
            _SERVED.pop(self.port, None)


def start_metrics_server(port: int, addr: str = "0.0.0.0", registry=REGISTRY) -> MetricsServer:
    """Serve ``registry`` on ``http://addr:port/metrics`` (and ``/cameras``) in a daemon thread. Idempotent per
    port within a process; ``port=0`` picks a free port. Raises :class:`MetricsServerError`
    with the reason when the port cannot be bound."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise MetricsServerError(f"metrics port must be an integer 0..65535, got {port!r}")
    with _LOCK:
        if port and port in _SERVED:
            return _SERVED[port]
        try:
            server, thread = _serve(port, addr, registry)
        except OSError as exc:
            raise MetricsServerError(f"cannot serve /metrics on {addr}:{port}: {exc.strerror or exc}") from exc
        bound = server.server_address[1]
        ms = MetricsServer(addr, bound, server, thread)
        _SERVED[bound] = ms
    log.info("metrics: serving %s", ms.url)
    return ms


def stop_metrics_server(port: int) -> bool:
    """Stop the server this process runs on ``port``; False if there is none."""
    with _LOCK:
        server = _SERVED.get(port)
    if server is None:
        return False
    server.stop()
    return True


def served_ports() -> list[int]:
    with _LOCK:
        return sorted(_SERVED)


def ensure_worker_server(env: Optional[dict] = None) -> Optional[MetricsServer]:
    """Start ``/metrics`` in this process if ``ALPR_METRICS_PORT`` asks for it (cheap after the
    first call). Never raises: a busy port range is logged and the worker keeps running."""
    global _WORKER_CHECKED
    if _WORKER_CHECKED and env is None:
        return None
    _WORKER_CHECKED = True
    explicit, env = env, (os.environ if env is None else env)
    raw = env.get("ALPR_METRICS_PORT", "").strip()
    if not raw:
        return None
    if explicit is None and _SERVED:
        return None  # the driver (or someone) already serves this process's registry
    try:
        base = int(raw)
        span = max(1, int(env.get("ALPR_METRICS_PORT_SPAN", "8")))
    except ValueError:
        log.warning("metrics: ALPR_METRICS_PORT=%r is not a port number; not serving", raw)
        return None
    for port in range(base, base + span):
        try:
            return start_metrics_server(port)
        except MetricsServerError:
            continue
    log.warning("metrics: no free port in %d..%d; this worker's metrics are not served", base, base + span - 1)
    return None
