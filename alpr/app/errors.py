"""How the CLI reports a failure: one line a person can act on, and a non-zero exit.

Expected conditions (a missing file, a bad setting, a service that does not answer) exit 2 with
what to do; anything else exits 1 and points at ``--debug``, which prints the traceback. Without
``--debug`` the libraries' own per-attempt logging (Beam's bundle retries, the Cassandra driver's
connection errors, librdkafka's reconnects) stays quiet: the failure is reported once, here.
"""

from __future__ import annotations

import logging

EXPECTED = 2
UNEXPECTED = 1
MAX_LINE = 400

# service client exception types, by module prefix and name (no import: the drivers are optional)
_SERVICES = {
    ("cassandra", "NoHostAvailable"): ("Cassandra", "start it (make services-up) or use --store sqlite:.run/alpr.db"),
    ("cassandra", "OperationTimedOut"): ("Cassandra", "check that it is up (make services-up) and not overloaded"),
    ("cassandra", "Unavailable"): ("Cassandra", "check that enough replicas are up"),
    ("confluent_kafka", "KafkaException"): ("Kafka", "start it (make services-up) or set ALPR_KAFKA__BOOTSTRAP"),
    ("tritonclient", "InferenceServerException"): ("Triton", "start it (make services-up) or use --inference onnx"),
    ("alpr.inference", "BackendError"): ("Triton", "start it (make services-up) or use --inference onnx"),
    ("alpr.pipelines.flink", "FlinkEnvironmentMissing"): (
        "Flink", "fetch it (make services-fetch) or set FLINK_HOME, FLINK_ENV_PYTHON and FLINK_JOB_JARS; "
                 "--runner direct needs no Flink"),
    ("alpr.pipelines.flink", "FlinkError"): (
        "Flink", "start the cluster (make services-up) and check ALPR_FLINK_MASTER, or use --runner direct"),
}


def configure_logging(debug: bool) -> None:
    from alpr.app.quiet import install

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install()
    if debug:
        logging.getLogger("alpr.kafka.librdkafka").setLevel(logging.DEBUG)
        return
    for name in ("apache_beam", "cassandra"):  # re-reported once by describe()
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def describe(exc: BaseException) -> tuple[str, int]:
    """(one-line message, exit status) for ``exc``."""
    for e in _chain(exc):
        mod = type(e).__module__ or ""
        for (prefix, name), (service, hint) in _SERVICES.items():
            if mod.startswith(prefix) and type(e).__name__ == name:
                return _one_line(f"{service}: {_service_detail(e)}; {hint}"), EXPECTED
    for e in _chain(exc):
        if isinstance(e, (ValueError, OSError, NotImplementedError, LookupError)) and not isinstance(e, KeyError):
            text = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename and e.strerror else str(e)
            return _one_line(text or type(e).__name__), EXPECTED
    return _one_line(f"{type(exc).__name__}: {exc}"), UNEXPECTED


def _service_detail(e: BaseException) -> str:
    name = type(e).__name__
    if name == "NoHostAvailable" and len(e.args) > 1 and isinstance(e.args[1], dict):
        hosts = ", ".join(f"{h}: {getattr(err, 'strerror', None) or err}" for h, err in e.args[1].items())
        return f"unreachable ({hosts})"
    if name == "KafkaException" and e.args and hasattr(e.args[0], "str"):
        return e.args[0].str()
    if hasattr(e, "message") and callable(e.message):
        return str(e.message())
    return str(e)
