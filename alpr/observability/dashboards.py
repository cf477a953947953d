"""Grafana dashboards as code: ``python -m alpr.observability.dashboards infra/grafana/dashboards``
writes the seven dashboard JSON files Grafana provisions (``infra/grafana/provisioning``).

Seven dashboards, one question each: *overview* (is the pipeline keeping up? both engines),
*flink* (the streaming job: watermarks per partition, checkpoints, backpressure; its own
panels in :mod:`.flink_dashboard`), *cameras* (is every camera sending?), *inference*,
*storage* (Cassandra/SQLite and Kafka), *alerts* (hits, alerts, end-to-end latency, hotlists)
and *compliance* (searches by purpose, sharing, evidence holds, retention purges, audit-chain
verification).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .flink_dashboard import flink_job, job_rate as _job_rate
from .flink_metrics import FRAMES_SOURCE
from .grafana import DS, dashboard, q, query_var, stat, table, timeseries  # noqa: F401 (re-exported)


def job_rate(name: str, window: str = "5m") -> str:
    """The Flink job's ``alpr`` counter rate, every job (the overview has no ``$job`` variable)."""
    return _job_rate(name, window, job="")


def both(embedded: str, flink: str) -> str:
    """The embedded pipeline's ``alpr_*`` rate plus the Flink job's (either may be absent)."""
    return f"({embedded} or vector(0)) + ({flink} or vector(0))"


# --------------------------------------------------------------------------- the dashboards
def overview() -> dict:
    return dashboard("alpr-overview", "ALPR / Pipeline overview", [
        stat("Frames / s", both("sum(rate(alpr_frames_total[5m]))", job_rate("frames_in")), "ops",
             description="Embedded pipeline (alpr_*) plus the Flink job (flink_..._alpr_*)."),
        stat("Reads / s", both("sum(rate(alpr_reads_total[5m]))", job_rate("reads")), "ops"),
        stat("Alerts (1h)", both("sum(increase(alpr_alerts_total[1h]))",
                                 "sum(increase(flink_taskmanager_job_task_operator_alpr_alerts[1h]))")),
        stat("Cameras silent", "sum(alpr_cameras_silent) or vector(0)", red_above=1,
             description="Cameras with no frame for the offline threshold (ALPR_CAMERA_OFFLINE_AFTER_S)."),
        stat("Kafka consumer lag", "sum(alpr_kafka_consumer_lag_messages) or vector(0)", red_above=1000),
        stat("Dead letters / s", both("sum(rate(alpr_dead_letters_total[5m]))", job_rate("dead_letters")), "ops",
             red_above=0.1),
        timeseries("Throughput by stage", [
            ("sum(rate(alpr_frames_total[5m]))", "frames in"),
            ("sum(rate(alpr_frames_decoded_total[5m]))", "decoded"),
            ("sum(rate(alpr_reads_total[5m]))", "reads"),
            ("sum(rate(alpr_plate_groups_total[5m]))", "plate groups"),
            ("sum(rate(alpr_hotlist_hits_total[5m]))", "hotlist hits"),
            ("sum(rate(alpr_alerts_total[5m]))", "alerts")], "ops"),
        timeseries("Dead letters by stage and reason", [
            ("sum by (stage, reason_class) (rate(alpr_dead_letters_total[5m]))", "{{stage}} / {{reason_class}}")],
            "ops"),
        timeseries("Capture -> alert latency", [
            (q(0.5, "alpr_capture_to_alert_latency_seconds"), "p50"),
            (q(0.95, "alpr_capture_to_alert_latency_seconds"), "p95"),
            (q(0.99, "alpr_capture_to_alert_latency_seconds"), "p99")], "s"),
        timeseries("Kafka consumer lag per partition", [
            ("sum by (topic, partition) (alpr_kafka_consumer_lag_messages)", "{{topic}}[{{partition}}]"),
            ("sum by (subtask_index) (flink_taskmanager_job_task_operator_pendingRecords{" + FRAMES_SOURCE + "})",
             "flink source #{{subtask_index}}")]),
        timeseries("Flink job: throughput", [
            (job_rate("frames_in"), "frames in"), (job_rate("reads"), "reads"),
            (job_rate("plate_groups"), "groups"), (job_rate("alerts"), "alerts"),
            (job_rate("dead_letters"), "dead letters")], "ops",
            description="Details: the ALPR / Flink job dashboard."),
        timeseries("Flink job: worst partition watermark lag, last checkpoint", [
            ("max(time() * 1000 - (flink_taskmanager_job_task_operator_split_watermark_currentWatermark{"
             + FRAMES_SOURCE + "} > 0))", "watermark lag"),
            ("max(flink_jobmanager_job_lastCheckpointDuration)", "checkpoint duration")], "ms"),
        timeseries("Embedded runs by final state", [
            ("sum by (state) (increase(alpr_pipeline_runs_total[15m]))", "{{state}}"),
            ("max(alpr_pipeline_last_run_duration_seconds)", "last run duration (s)")]),
        timeseries("Beam counters (aggregated at the end of each run)", [
            ("sum by (name) (alpr_beam_counter{namespace=\"alpr\"})", "{{name}}")]),
        table("Scrape targets", [("up{job=~\"alpr.*|triton\"}", "")], w=24, h=6),
    ], tags=["pipeline"], description="Is the pipeline keeping up? Throughput, dead letters, lag, latency.")


def cameras() -> dict:
    sel = '{agency=~"$agency"}'
    return dashboard("alpr-cameras", "ALPR / Cameras", [
        table("Cameras per agency: seen, silent, expected, expected offline", [
            (f"sum by (agency) (alpr_cameras_seen{sel})", ""),
            (f"sum by (agency) (alpr_cameras_silent{sel})", ""),
            (f"min by (agency) (alpr_cameras_expected{sel})", ""),
            (f"min by (agency) (alpr_cameras_offline{sel})", "")], w=12, h=9,
            description="Counts only: per-camera series would be 10,000 per metric. Expected cameras come from "
                        "ALPR_EXPECTED_CAMERAS / --expected-cameras."),
        table("Longest-silent cameras (seconds since last frame, top k)", [
            (f"time() - max by (camera, agency) (alpr_silent_camera_last_frame_timestamp_seconds{sel})", "")],
            "s", w=12, h=9,
            description="At most ALPR_METRICS_TOP_CAMERAS (default 10) per process, and only cameras silent past the "
                        "offline threshold. Every camera: GET /cameras on the metrics port (embedded) or the "
                        "health topic (Flink job, --health-topic)."),
        timeseries("Frames / s per agency", [
            (f"sum by (agency) (rate(alpr_frames_total{sel}[5m]))", "{{agency}}")], "ops"),
        timeseries("Decode failure ratio per agency", [
            (f"sum by (agency) (rate(alpr_frame_decode_failures_total{sel}[5m])) / "
             f"sum by (agency) (rate(alpr_frames_total{sel}[5m]))", "{{agency}}")], "percentunit"),
        timeseries("Silent cameras per agency", [
            (f"sum by (agency) (alpr_cameras_silent{sel})", "{{agency}} silent"),
            (f"min by (agency) (alpr_cameras_offline{sel})", "{{agency}} expected, offline")]),
        timeseries("Reads / s per agency", [
            (f"sum by (agency) (rate(alpr_reads_total{sel}[5m]))", "{{agency}}")], "ops"),
        timeseries("Largest camera clock skew (receipt - capture time)", [
            (f"max by (agency) (alpr_camera_max_clock_skew_seconds{sel})", "{{agency}}")], "s"),
        timeseries("Seconds since the agency's last frame", [
            (f"time() - max by (agency) (alpr_last_frame_timestamp_seconds{sel})", "{{agency}}")], "s"),
        timeseries("Gateway: frames published / s", [
            (f"sum by (agency) (rate(alpr_gateway_frames_published_total{sel}[5m]))", "{{agency}}")], "ops"),
        timeseries("Plate groups / s per agency", [
            (f"sum by (agency) (rate(alpr_plate_groups_total{sel}[5m]))", "{{agency}} confirmed"),
            (f"sum by (agency) (rate(alpr_plate_groups_unconfirmed_total{sel}[5m]))", "{{agency}} unconfirmed")],
            "ops"),
    ], tags=["cameras"], variables=[query_var("agency", "label_values(alpr_frames_total, agency)", "Agency")],
        description="Is every camera sending? Per-agency counts and a bounded top-k of silent cameras.")


def inference() -> dict:
    lat = "alpr_inference_latency_seconds"
    return dashboard("alpr-inference", "ALPR / Inference", [
        timeseries("Backend call latency", [
            (q(0.5, lat, "backend, model"), "p50 {{backend}} {{model}}"),
            (q(0.95, lat, "backend, model"), "p95 {{backend}} {{model}}"),
            (q(0.99, lat, "backend, model"), "p99 {{backend}} {{model}}")], "s"),
        timeseries("Calls / s", [(f"sum by (backend, model) (rate({lat}_count[5m]))", "{{backend}} {{model}}")],
                   "ops"),
        timeseries("Mean batch size", [
            ("sum by (backend, model) (rate(alpr_inference_batch_size_sum[5m])) / "
             "sum by (backend, model) (rate(alpr_inference_batch_size_count[5m]))", "{{backend}} {{model}}")]),
        timeseries("Batch size p95", [(q(0.95, "alpr_inference_batch_size", "backend, model"),
                                       "{{backend}} {{model}}")]),
        timeseries("Errors / s by type", [
            ("sum by (backend, model, error) (rate(alpr_inference_errors_total[5m]))",
             "{{backend}} {{model}} {{error}}")], "ops"),
        timeseries("Retries and failed batches", [
            ("sum by (backend) (rate(alpr_inference_retries_total[5m]))", "retries/s {{backend}}"),
            ("sum(increase(alpr_inference_failed_batches_total[15m]))", "failed batches (15m)")]),
        timeseries("Triton: successful / failed requests per second", [
            ("sum by (model) (rate(nv_inference_request_success[5m]))", "ok {{model}}"),
            ("sum by (model) (rate(nv_inference_request_failure[5m]))", "failed {{model}}")], "ops"),
        timeseries("Triton: queue and compute time per request", [
            ("sum by (model) (rate(nv_inference_queue_duration_us[5m])) / "
             "sum by (model) (rate(nv_inference_request_success[5m])) / 1e6", "queue {{model}}"),
            ("sum by (model) (rate(nv_inference_compute_infer_duration_us[5m])) / "
             "sum by (model) (rate(nv_inference_request_success[5m])) / 1e6", "compute {{model}}")], "s"),
    ], tags=["inference"], description="Recognizer health: latency, batching, errors, retries (+ Triton's own).")


def storage() -> dict:
    return dashboard("alpr-storage", "ALPR / Storage and Kafka", [
        timeseries("Store write latency p95", [
            (q(0.95, "alpr_store_write_latency_seconds", "backend, table"), "{{backend}} {{table}}")], "s"),
        timeseries("Rows written / s", [
            ("sum by (backend, table) (rate(alpr_store_rows_written_total[5m]))", "{{backend}} {{table}}")], "ops"),
        timeseries("Store write errors / s", [
            ("sum by (backend, table) (rate(alpr_store_write_errors_total[5m]))", "{{backend}} {{table}}")], "ops"),
        timeseries("Cassandra statement retries / s", [
            ("sum by (table) (rate(alpr_store_write_retries_total{backend=\"cassandra\"}[5m]))", "{{table}}")],
            "ops"),
        timeseries("Kafka messages / s", [
            ("sum by (topic) (rate(alpr_kafka_messages_consumed_total[5m]))", "consumed {{topic}}"),
            ("sum by (topic) (rate(alpr_kafka_messages_produced_total[5m]))", "produced {{topic}}")], "ops"),
        timeseries("Kafka errors / s", [
            ("sum by (topic) (rate(alpr_kafka_consume_errors_total[5m]))", "consume {{topic}}"),
            ("sum by (topic) (rate(alpr_kafka_produce_errors_total[5m]))", "produce {{topic}}")], "ops"),
        timeseries("Kafka consumer lag", [
            ("sum by (topic, group) (alpr_kafka_consumer_lag_messages)", "{{group}} @ {{topic}}")], w=24),
    ], tags=["storage", "kafka"], description="Cassandra/SQLite writes, Kafka consumption and delivery.")


def alerts() -> dict:
    return dashboard("alpr-alerts", "ALPR / Hits and alerts", [
        stat("Alerts (24h)", "sum(increase(alpr_alerts_total[24h]))"),
        stat("Hits (24h)", "sum(increase(alpr_hotlist_hits_total[24h]))"),
        stat("Duplicates suppressed (24h)", "sum(increase(alpr_alerts_deduplicated_total[24h]))"),
        stat("Capture -> alert p95", q(0.95, "alpr_capture_to_alert_latency_seconds", window="15m"), "s",
             red_above=30),
        stat("Hotlist entries", "sum(max by (list) (alpr_hotlist_entries))"),
        stat("Alerts delivered to Kafka / s", "sum(rate(alpr_kafka_messages_produced_total{topic=\"alerts\"}[5m]))"
             " or vector(0)", "ops"),
        timeseries("Hotlist hits / s by list and match type", [
            ("sum by (list, match_type) (rate(alpr_hotlist_hits_total[5m]))", "{{list}} {{match_type}}")], "ops"),
        timeseries("Alerts / s by list and agency", [
            ("sum by (list, agency) (rate(alpr_alerts_total[5m]))", "{{list}} {{agency}}")], "ops"),
        timeseries("Capture -> alert latency", [
            (q(0.5, "alpr_capture_to_alert_latency_seconds"), "p50"),
            (q(0.95, "alpr_capture_to_alert_latency_seconds"), "p95")], "s"),
        timeseries("Hotlist size per list", [("max by (list) (alpr_hotlist_entries)", "{{list}}")]),
        table("Hotlist age (time since newest entry) and matcher reload", [
            ("time() - max by (list) (alpr_hotlist_last_update_timestamp_seconds)", ""),
        ], "s"),
        timeseries("Matcher: hotlist version and seconds since reload", [
            ("max(alpr_hotlist_version)", "version"),
            ("time() - max(alpr_hotlist_loaded_timestamp_seconds)", "since reload (s)")]),
    ], tags=["alerts", "hotlist"], description="Do alerts flow? Hits, alerts, latency, hotlist freshness.")


def compliance() -> dict:
    ev = "alpr_access_log_events_total"
    return dashboard("alpr-compliance", "ALPR / Compliance (policy 461)", [
        stat("Audit chain", "min(alpr_audit_chain_valid)", red_below=1,
             description="1 = the access-log hash chain verified; 0 = tampering or loss detected."),
        stat("Since last chain verification",
             "time() - max(alpr_audit_chain_last_verification_timestamp_seconds > 0)", "s", red_above=172800),
        stat("Since last successful purge",
             "time() - max(alpr_purge_last_success_timestamp_seconds > 0)", "s", red_above=172800),
        stat("Purge failures (7d)", "sum(increase(alpr_purge_runs_total{result=\"failure\"}[7d])) or vector(0)",
             red_above=1),
        stat("Evidence holds active", "max(alpr_evidence_holds_active)"),
        stat("Denied accesses (24h)", f"sum(increase({ev}{{outcome=\"denied\"}}[24h])) or vector(0)", red_above=1),
        timeseries("Searches by purpose (per hour)", [
            (f"sum by (purpose) (increase({ev}{{action=\"search_reads\"}}[1h]))", "{{purpose}}")]),
        timeseries("Access-log events by action (per hour)", [
            (f"sum by (action, outcome) (increase({ev}[1h]))", "{{action}} {{outcome}}")]),
        timeseries("Sharing requests by status (per day)", [
            ("sum by (status) (increase(alpr_sharing_requests_total[1d]))", "{{status}}")]),
        timeseries("Evidence holds (per day)", [
            ("sum by (action) (increase(alpr_evidence_holds_total[1d]))", "{{action}}"),
            ("max(alpr_evidence_holds_active)", "active")]),
        timeseries("Retention purges", [
            ("sum by (result) (increase(alpr_purge_runs_total[1d]))", "runs {{result}} / day"),
            ("sum(increase(alpr_purge_rows_total[1d]))", "rows purged / day")]),
        timeseries("Audit chain: records verified", [("max(alpr_audit_chain_records)", "records")]),
    ], tags=["compliance", "governance"],
        description="Searches by purpose, sharing, evidence holds, retention purges, audit-chain integrity.")


DASHBOARDS = {"overview": overview, "flink": flink_job, "cameras": cameras, "inference": inference, "storage": storage,
              "alerts": alerts, "compliance": compliance}


def render_all() -> dict[str, str]:
    """``{file name: JSON text}`` for every dashboard."""
    return {f"alpr-{name}.json": json.dumps(fn(), indent=2, sort_keys=True) + "\n" for name, fn in DASHBOARDS.items()}


def write_dashboards(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render_all().items():
        path = out / name
        path.write_text(text)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_dashboards(sys.argv[1] if len(sys.argv) > 1 else "infra/grafana/dashboards"):
        print(p)
