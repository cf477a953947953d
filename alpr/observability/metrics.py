"""Every Prometheus metric of alpr-stream, defined once, with its labels.

Prometheus conventions: ``alpr_`` prefix, counters end in ``_total``, durations are ``_seconds``
histograms, timestamps ``_timestamp_seconds`` gauges. Labels are low-cardinality by construction:
agency, stage, a fixed set of reason classes, hotlist list codes, store tables, Kafka topics.
Never a plate, a read id, a user or free text, and no camera label on a high-volume series (at
10,000 cameras that is 10,000 series per family): per-camera detail is the bounded camera table
of :mod:`.cameras` (``GET /cameras``), with a few series per agency and a top-k of silent cameras.
Callers use the ``observe_*`` / ``record_*`` helpers, which never raise.

The embedded pipeline's DoFns run in the driver, so its ``/metrics`` (``Settings.metrics_port``)
shows every stage. The Flink job registers its own metrics in Flink (an ``alpr`` group per
operator), exposed by Flink's Prometheus reporter as ``flink_taskmanager_job_task_operator_alpr_*``
(:mod:`.flink_metrics`, ``infra/prometheus/README.md``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Iterable, Optional

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from .cameras import COLLECTED_LABELS, TABLE as _CAMERA_TABLE, CameraCollector, agency_label
from .cameras import expected_cameras_from_env, health_records, set_expected_cameras  # noqa: F401 (API)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- buckets
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
END_TO_END_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

# --------------------------------------------------------------------------- cameras / frames
# Per agency only: per-camera detail is in the camera table (cameras.py), not in labels.
FRAMES = Counter("alpr_frames_total", "Frames that entered the pipeline (before decoding).", ["agency"])
FRAMES_DECODED = Counter("alpr_frames_decoded_total", "Frames decoded into images.", ["agency"])
DECODE_FAILURES = Counter("alpr_frame_decode_failures_total",
                          "Frames that could not be decoded (corrupt, empty, absurd size).", ["agency"])
LAST_FRAME = Gauge("alpr_last_frame_timestamp_seconds",
                   "Wall-clock time the pipeline last received a frame from any camera of the agency.", ["agency"])
GATEWAY_FRAMES = Counter("alpr_gateway_frames_published_total",
                         "Frames the camera gateway published to the frames topic.", ["agency"])

# --------------------------------------------------------------------------- dead letters
DEAD_LETTERS = Counter("alpr_dead_letters_total", "Elements a stage could not process, by reason class.",
                       ["stage", "reason_class"])

# --------------------------------------------------------------------------- inference
INFERENCE_LATENCY = Histogram("alpr_inference_latency_seconds",
                              "Duration of one inference backend call (one batch).", ["backend", "model"],
                              buckets=LATENCY_BUCKETS)
INFERENCE_BATCH = Histogram("alpr_inference_batch_size", "Images per inference backend call.",
                            ["backend", "model"], buckets=BATCH_BUCKETS)
INFERENCE_ERRORS = Counter("alpr_inference_errors_total", "Inference backend calls that raised.",
                           ["backend", "model", "error"])
INFERENCE_RETRIES = Counter("alpr_inference_retries_total",
                            "Inference requests retried after a transient error.", ["backend"])
INFERENCE_FAILED_BATCHES = Counter("alpr_inference_failed_batches_total",
                                   "RunInference batches that failed for good (sent to dead letters).", [])

# --------------------------------------------------------------------------- reads / groups / hits / alerts
READS = Counter("alpr_reads_total", "Plate reads recognised.", ["agency"])
PLATE_GROUPS = Counter("alpr_plate_groups_total", "Plate groups (vehicle passages) closed.", ["agency"])
GROUPS_UNCONFIRMED = Counter("alpr_plate_groups_unconfirmed_total",
                             "Plate groups below the read-count/confidence bar (not matched).", ["agency"])
HOTLIST_HITS = Counter("alpr_hotlist_hits_total", "Hotlist matches before de-duplication.",
                       ["list", "match_type"])
ALERTS = Counter("alpr_alerts_total", "Alerts emitted (after de-duplication).", ["list", "agency"])
ALERTS_DEDUPED = Counter("alpr_alerts_deduplicated_total", "Alerts suppressed as duplicates.", ["list"])
ALERT_LATENCY = Histogram("alpr_capture_to_alert_latency_seconds",
                          "Frame capture time to alert emission (end to end).", [],
                          buckets=END_TO_END_BUCKETS)

# --------------------------------------------------------------------------- hotlists
HOTLIST_ENTRIES = Gauge("alpr_hotlist_entries", "Active hotlist entries loaded by the matcher.", ["list"])
HOTLIST_UPDATED = Gauge("alpr_hotlist_last_update_timestamp_seconds",
                        "Creation time of the newest entry of the list (age = time() - this).", ["list"])
HOTLIST_LOADED = Gauge("alpr_hotlist_loaded_timestamp_seconds", "When the matcher last (re)loaded its hotlists.", [])
HOTLIST_VERSION = Gauge("alpr_hotlist_version", "Hotlist version the matcher has loaded.", [])

# --------------------------------------------------------------------------- Kafka
KAFKA_LAG = Gauge("alpr_kafka_consumer_lag_messages",
                  "High watermark minus the consumer position, per partition.", ["topic", "partition", "group"])
KAFKA_CONSUMED = Counter("alpr_kafka_messages_consumed_total", "Messages read from Kafka.", ["topic"])
KAFKA_CONSUME_ERRORS = Counter("alpr_kafka_consume_errors_total", "Kafka consumer errors.", ["topic"])
KAFKA_PRODUCED = Counter("alpr_kafka_messages_produced_total", "Messages Kafka acknowledged.", ["topic"])
KAFKA_PRODUCE_ERRORS = Counter("alpr_kafka_produce_errors_total", "Messages Kafka did not acknowledge.", ["topic"])

# --------------------------------------------------------------------------- stores
STORE_WRITE_LATENCY = Histogram("alpr_store_write_latency_seconds", "Duration of one batched store write.",
                                ["backend", "table"], buckets=LATENCY_BUCKETS)
STORE_ROWS = Counter("alpr_store_rows_written_total", "Records written to the store.", ["backend", "table"])
STORE_ERRORS = Counter("alpr_store_write_errors_total", "Batched store writes that failed.", ["backend", "table"])
STORE_RETRIES = Counter("alpr_store_write_retries_total", "Statements retried after a failed write.",
                        ["backend", "table"])

# --------------------------------------------------------------------------- governance / compliance
ACCESS_EVENTS = Counter("alpr_access_log_events_total", "Access-log records written (Civ. Code 1798.90.52).",
                        ["action", "purpose", "outcome"])
PURGE_RUNS = Counter("alpr_purge_runs_total", "Retention purge runs.", ["result"])
PURGE_ROWS = Counter("alpr_purge_rows_total", "Rows deleted by retention purges.", [])
PURGE_LAST_SUCCESS = Gauge("alpr_purge_last_success_timestamp_seconds", "When a purge last succeeded.", [])
PURGE_LAST_FAILURE = Gauge("alpr_purge_last_failure_timestamp_seconds", "When a purge last failed (0 = never).", [])
AUDIT_CHAIN_VALID = Gauge("alpr_audit_chain_valid", "1 if the access-log hash chain verified, 0 if not.", [])
AUDIT_CHAIN_RECORDS = Gauge("alpr_audit_chain_records", "Access-log records checked by the last verification.", [])
AUDIT_CHAIN_VERIFIED = Gauge("alpr_audit_chain_last_verification_timestamp_seconds",
                             "When the access-log chain was last verified.", [])
SHARING_REQUESTS = Counter("alpr_sharing_requests_total", "Data-sharing requests by lifecycle event.", ["status"])
EVIDENCE_HOLDS = Counter("alpr_evidence_holds_total", "Evidence-hold actions.", ["action"])
EVIDENCE_HOLDS_ACTIVE = Gauge("alpr_evidence_holds_active", "Evidence holds currently in force.", [])

# --------------------------------------------------------------------------- Beam bridge
BEAM_COUNTER = Gauge("alpr_beam_counter", "Beam counter (committed, else attempted) after the last run.",
                     ["namespace", "name"])
BEAM_DISTRIBUTION = Gauge("alpr_beam_distribution", "Beam distribution statistic after the last run.",
                          ["namespace", "name", "stat"])
BEAM_GAUGE = Gauge("alpr_beam_gauge", "Beam gauge after the last run.", ["namespace", "name"])
PIPELINE_RUNS = Counter("alpr_pipeline_runs_total", "Pipeline runs by final state.", ["state"])
PIPELINE_LAST_RUN_SECONDS = Gauge("alpr_pipeline_last_run_duration_seconds", "Wall time of the last run.", [])
PIPELINE_LAST_RUN_END = Gauge("alpr_pipeline_last_run_timestamp_seconds", "When the last run finished.", [])

# --------------------------------------------------------------------------- helpers
_LOCK = threading.Lock()
_HOTLISTS: set[str] = set()


def _safe(fn):
    """Decorator: metrics never fail the caller."""

    def wrapper(*args, **kwargs):
        try:
            from .server import ensure_worker_server

            ensure_worker_server()
            return fn(*args, **kwargs)
        except Exception as exc:  # pragma: no cover - defensive
            log.warning("metrics: %s failed: %s", fn.__name__, exc)
            return None

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


def _label(value, default: str = "unknown", limit: int = 64) -> str:
    text = str(value or "").strip()
    return text[:limit] if text else default


# A fixed vocabulary, so the reason label can never explode (free text stays in the record).
_REASON_CLASSES: tuple[tuple[str, re.Pattern], ...] = tuple((name, re.compile(rx, re.I)) for name, rx in (
    ("empty", r"\bempty\b"),
    ("oversized", r"larger than|too large|oversized"),
    ("undersized", r"smaller than"),
    ("bad_header", r"header"),
    ("undecodable", r"cannot decode|not a supported image|must be bytes|corrupt"),
    ("schema", r"schema"),
    ("unavailable", r"unavailable|timed? ?out|deadline|connect"),
    ("inference_error", r"inference failed|backend"),
))


def reason_class(reason: str) -> str:
    """Map a free-text dead-letter reason to one of a few fixed classes (or ``other``)."""
    for name, rx in _REASON_CLASSES:
        if rx.search(reason or ""):
            return name
    return "other"


@_safe
def observe_frame(camera: str, agency: str, capture_ts: float, now: Optional[float] = None) -> None:
    """A frame entered the pipeline: count it per agency and note it in the camera table."""
    ag = agency_label(agency)
    now = time.time() if now is None else now
    FRAMES.labels(ag).inc()
    LAST_FRAME.labels(ag).set(now)
    _CAMERA_TABLE.frame(_label(camera), ag, capture_ts, now)


@_safe
def observe_decoded(camera: str, agency: str) -> None:
    ag = agency_label(agency)
    FRAMES_DECODED.labels(ag).inc()
    _CAMERA_TABLE.count(_label(camera), ag, "decoded")


@_safe
def observe_decode_failure(camera: str, agency: str) -> None:
    ag = agency_label(agency)
    DECODE_FAILURES.labels(ag).inc()
    _CAMERA_TABLE.count(_label(camera), ag, "decode_failures")


@_safe
def observe_gateway_frame(camera: str, agency: str = "") -> None:
    """The gateway published a frame (per agency; the camera id is not a label)."""
    GATEWAY_FRAMES.labels(agency_label(agency)).inc()


@_safe
def observe_dead_letter(stage: str, reason: str) -> None:
    DEAD_LETTERS.labels(_label(stage), reason_class(reason)).inc()


@_safe
def observe_inference(backend: str, model: str, batch_size: int, seconds: float,
                      error: Optional[BaseException] = None) -> None:
    """One backend call: its latency and batch size, or the error it raised."""
    INFERENCE_LATENCY.labels(backend, model).observe(seconds)
    INFERENCE_BATCH.labels(backend, model).observe(batch_size)
    if error is not None:
        INFERENCE_ERRORS.labels(backend, model, type(error).__name__[:48]).inc()


@_safe
def record_inference_retry(backend: str = "triton") -> None:
    """Call once per retried inference request (e.g. TritonBackend._call before sleeping)."""
    INFERENCE_RETRIES.labels(backend).inc()


@_safe
def observe_failed_batch() -> None:
    INFERENCE_FAILED_BATCHES.inc()


@_safe
def observe_reads(camera: str, agency: str, n: int = 1) -> None:
    if n:
        ag = agency_label(agency)
        READS.labels(ag).inc(n)
        _CAMERA_TABLE.count(_label(camera), ag, "reads", n)


@_safe
def observe_group(camera: str, agency: str, confirmed: Optional[bool] = None) -> None:
    """``confirmed=None``: a group was closed; ``False``: it was too weak to be matched."""
    ag = agency_label(agency)
    if confirmed is False:
        GROUPS_UNCONFIRMED.labels(ag).inc()
        _CAMERA_TABLE.count(_label(camera), ag, "groups_unconfirmed")
    else:
        PLATE_GROUPS.labels(ag).inc()
        _CAMERA_TABLE.count(_label(camera), ag, "groups")


@_safe
def observe_hit(list_code: str, match_type: str) -> None:
    HOTLIST_HITS.labels(_label(list_code), _label(match_type)).inc()


@_safe
def observe_alert(list_code: str, agency: str, capture_ts: float, emitted_ts: Optional[float] = None) -> None:
    """An alert left de-duplication: count it and observe capture -> alert latency
    (clamped at 0 for cameras whose clock runs ahead)."""
    ALERTS.labels(_label(list_code), _label(agency)).inc()
    emitted = emitted_ts or time.time()
    ALERT_LATENCY.observe(max(0.0, emitted - capture_ts))


@_safe
def observe_alert_deduplicated(list_code: str) -> None:
    ALERTS_DEDUPED.labels(_label(list_code)).inc()


@_safe
def observe_hotlist(entries: Iterable, version: Optional[int] = None, now: Optional[float] = None) -> None:
    """Hotlist entries the matcher (re)loaded: size and newest entry time per list code."""
    sizes: dict[str, int] = {}
    newest: dict[str, float] = {}
    for e in entries:
        code = _label(getattr(e, "list_code", ""))
        sizes[code] = sizes.get(code, 0) + 1
        newest[code] = max(newest.get(code, 0.0), float(getattr(e, "created_ts", 0.0) or 0.0))
    global _HOTLISTS
    with _LOCK:
        for code in _HOTLISTS - set(sizes):  # lists that disappeared
            HOTLIST_ENTRIES.labels(code).set(0)
        _HOTLISTS = set(sizes) | _HOTLISTS
    for code, n in sizes.items():
        HOTLIST_ENTRIES.labels(code).set(n)
        HOTLIST_UPDATED.labels(code).set(newest[code])
    HOTLIST_LOADED.set(time.time() if now is None else now)
    if version is not None:
        HOTLIST_VERSION.set(version)


@_safe
def set_kafka_lag(topic: str, partition: int, lag: int, group: str) -> None:
    KAFKA_LAG.labels(_label(topic), str(int(partition)), _label(group)).set(max(0, int(lag)))


@_safe
def observe_kafka_consumed(topic: str, n: int = 1) -> None:
    KAFKA_CONSUMED.labels(_label(topic)).inc(n)


@_safe
def observe_kafka_consume_error(topic: str) -> None:
    KAFKA_CONSUME_ERRORS.labels(_label(topic)).inc()


@_safe
def observe_kafka_produced(topic: str, delivered: int, failed: int = 0) -> None:
    if delivered:
        KAFKA_PRODUCED.labels(_label(topic)).inc(delivered)
    if failed:
        KAFKA_PRODUCE_ERRORS.labels(_label(topic)).inc(failed)


def store_backend(spec: str) -> str:
    """``sqlite:...`` -> ``sqlite``, ``cassandra://...`` -> ``cassandra``."""
    return spec.split(":", 1)[0] if ":" in spec else _label(spec)


@_safe
def observe_store_write(backend: str, table: str, rows: int, seconds: float, ok: bool = True) -> None:
    STORE_WRITE_LATENCY.labels(backend, table).observe(seconds)
    if ok:
        STORE_ROWS.labels(backend, table).inc(rows)
    else:
        STORE_ERRORS.labels(backend, table).inc()


@_safe
def record_store_retry(backend: str, table: str, statements: int = 1) -> None:
    STORE_RETRIES.labels(backend, table).inc(statements)


# -- governance: the governance layer calls these ---------------------------------------------
@_safe
def record_access_event(action: str, purpose_code: str = "", outcome: str = "allowed") -> None:
    """One access-log record (call from ``AccessLog.record``): action, purpose code, outcome."""
    ACCESS_EVENTS.labels(_label(action, limit=48), _label(purpose_code, "none", 32), _label(outcome, limit=16)).inc()


@_safe
def record_purge(rows: int = 0, ok: bool = True, now: Optional[float] = None) -> None:
    """A retention purge finished (``ok``) or failed (call from ``RetentionService.run_purge``)."""
    now = time.time() if now is None else now
    PURGE_RUNS.labels("success" if ok else "failure").inc()
    if ok:
        PURGE_ROWS.inc(max(0, int(rows)))
        PURGE_LAST_SUCCESS.set(now)
    else:
        PURGE_LAST_FAILURE.set(now)


@_safe
def record_chain_verification(ok: bool, checked: int = 0, now: Optional[float] = None) -> None:
    """Result of an access-log hash-chain verification (call after ``verify_chain``)."""
    AUDIT_CHAIN_VALID.set(1 if ok else 0)
    AUDIT_CHAIN_RECORDS.set(max(0, int(checked)))
    AUDIT_CHAIN_VERIFIED.set(time.time() if now is None else now)


def observe_chain_report(report) -> None:
    """Convenience for :class:`alpr.governance.access_log.ChainReport`."""
    record_chain_verification(bool(report.ok), int(getattr(report, "checked", 0)))


SHARING_STATUSES = ("requested", "approved", "denied", "fulfilled", "revoked", "expired")
HOLD_ACTIONS = ("placed", "released", "exported")


def record_sharing(status: str) -> None:
    """A sharing request changed state: one of :data:`SHARING_STATUSES` (``ValueError`` otherwise)."""
    if status not in SHARING_STATUSES:
        raise ValueError(f"sharing status must be one of {SHARING_STATUSES}, got {status!r}")
    _inc(SHARING_REQUESTS.labels(status))


def record_evidence_hold(action: str, active: Optional[int] = None) -> None:
    """An evidence hold was placed/released/exported (``ValueError`` for anything else);
    ``active`` = holds now in force, if known."""
    if action not in HOLD_ACTIONS:
        raise ValueError(f"evidence hold action must be one of {HOLD_ACTIONS}, got {action!r}")
    _inc(EVIDENCE_HOLDS.labels(action))
    if active is not None:
        _set(EVIDENCE_HOLDS_ACTIVE, max(0, int(active)))


@_safe
def _inc(metric, n: float = 1) -> None:
    metric.inc(n)


@_safe
def _set(metric, value: float) -> None:
    metric.set(value)


# --------------------------------------------------------------------------- cameras (bounded)
CAMERA_COLLECTOR = CameraCollector()
REGISTRY.register(CAMERA_COLLECTOR)


def metric_names() -> list[str]:
    """Every family name this module defines (as exposed, e.g. ``alpr_frames`` for the
    ``alpr_frames_total`` counter, as prometheus_client reports it)."""
    out = [m._name for m in globals().values() if isinstance(m, (Counter, Gauge, Histogram))]
    return sorted(set(out) | set(COLLECTED_LABELS))
