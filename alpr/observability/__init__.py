"""Observability for SREs: Prometheus metrics, ``/metrics`` (and ``/cameras``) servers, the Beam bridge.

All metric objects live in :mod:`alpr.observability.metrics`; dashboards and alert rules are in
``infra/grafana`` and ``infra/prometheus``.
"""

from .beam_bridge import export_beam_metrics, record_pipeline_run
from .metrics import (
    expected_cameras_from_env, health_records, metric_names, observe_alert, observe_alert_deduplicated,
    observe_chain_report, observe_dead_letter, observe_decode_failure, observe_decoded, observe_frame,
    observe_group, observe_hit, observe_hotlist, observe_reads, reason_class, record_access_event,
    record_chain_verification, record_evidence_hold, record_inference_retry, record_purge, record_sharing,
    record_store_retry, set_expected_cameras,
)
from .server import (MetricsServer, MetricsServerError, ensure_worker_server, start_metrics_server,
                     stop_metrics_server)

__all__ = [
    "MetricsServer", "MetricsServerError", "ensure_worker_server", "expected_cameras_from_env",
    "export_beam_metrics", "health_records", "metric_names", "observe_alert", "observe_alert_deduplicated",
    "observe_chain_report", "observe_dead_letter", "observe_decode_failure", "observe_decoded", "observe_frame",
    "observe_group", "observe_hit", "observe_hotlist", "observe_reads", "reason_class", "record_access_event",
    "record_chain_verification", "record_evidence_hold", "record_inference_retry", "record_pipeline_run",
    "record_purge", "record_sharing", "record_store_retry", "set_expected_cameras", "start_metrics_server",
    "stop_metrics_server",
]
