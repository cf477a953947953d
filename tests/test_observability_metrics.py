"""Unit tests of alpr.observability: helpers, /metrics server, Beam bridge, backend proxy,
the PromQL catalogue checks, the dashboards and the `alpr metrics` CLI."""

from __future__ import annotations

import json
import pickle
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from alpr.observability import catalog, dashboards, metrics
from alpr.observability.instrument import InstrumentedBackend
from alpr.observability.server import MetricsServerError, ensure_worker_server, start_metrics_server

ROOT = Path(__file__).resolve().parents[1]


def value(_metric: str, **labels) -> float:
    v = REGISTRY.get_sample_value(_metric, labels)
    return 0.0 if v is None else v


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


# --------------------------------------------------------------------------- helpers
def test_reason_classes_of_real_decode_errors():
    from alpr.inference.recognizer import FrameDecodeError, decode_image

    reasons = {}
    for name, data in (("empty", b""), ("garbage", b"\x00\x01not an image at all" * 10)):
        with pytest.raises(FrameDecodeError) as exc:
            decode_image(data)
        reasons[name] = str(exc.value)
    assert metrics.reason_class(reasons["empty"]) == "empty"
    assert metrics.reason_class(reasons["garbage"]) == "undecodable"
    assert metrics.reason_class("frame is 9000x9000 px, larger than the 4096 px limit per side") == "oversized"
    assert metrics.reason_class("bad frame header: missing camera_id") == "bad_header"
    assert metrics.reason_class("inference failed: InferenceUnavailable: triton down") == "unavailable"
    assert metrics.reason_class("something nobody foresaw ABC123") == "other"


def test_dead_letters_counted_by_stage_and_class():
    before = value("alpr_dead_letters_total", stage="decode", reason_class="empty")
    metrics.observe_dead_letter("decode", "frame data is empty")
    metrics.observe_dead_letter("decode", "frame data is empty")
    assert value("alpr_dead_letters_total", stage="decode", reason_class="empty") == before + 2


def record(camera: str) -> dict:
    found = [r for r in metrics.health_records() if r["camera_id"] == camera]
    assert len(found) == 1, camera
    return found[0]


def test_frame_counted_per_agency_and_camera_detail_in_the_table():
    cam, ag = "cam-unit-frames", "AG-FRAMES"
    metrics.observe_frame(cam, ag, capture_ts=1000.0, now=5000.0)
    metrics.observe_frame(cam, ag, capture_ts=900.0, now=5001.0)  # late frame: newest capture time stays
    metrics.observe_reads(cam, ag, 3)
    assert value("alpr_frames_total", agency=ag) == 2
    assert value("alpr_reads_total", agency=ag) == 3
    assert value("alpr_last_frame_timestamp_seconds", agency=ag) == 5001.0
    assert REGISTRY.get_sample_value("alpr_frames_total", {"camera": cam, "agency": ag}) is None
    rec = record(cam)
    assert (rec["schema"], rec["agency"], rec["frames"], rec["reads"]) == ("CameraHealth/1", ag, 2, 3)
    assert (rec["last_frame_ts"], rec["last_capture_ts"], rec["status"]) == (5001.0, 1000.0, "silent")
    assert value("alpr_camera_max_clock_skew_seconds", agency=ag) == 4001.0


def test_expected_cameras_counted_per_agency():
    ag = "AG-EXPECTED"
    try:
        metrics.set_expected_cameras({"cam-unit-live": ag, "cam-unit-never": ag}, offline_after_s=0.3)
        metrics.observe_frame("cam-unit-live", ag, capture_ts=time.time())
        assert value("alpr_cameras_expected", agency=ag) == 2
        assert value("alpr_cameras_offline", agency=ag) == 1
        assert record("cam-unit-never")["status"] == "never_seen"
        assert record("cam-unit-live")["status"] == "ok"
        time.sleep(0.5)
        assert value("alpr_cameras_offline", agency=ag) == 2
        assert value("alpr_cameras_silent", agency=ag) == 1
        assert value("alpr_silent_camera_last_frame_timestamp_seconds", camera="cam-unit-live", agency=ag) > 0
        metrics.observe_frame("cam-unit-live", ag, capture_ts=time.time())
        assert value("alpr_cameras_offline", agency=ag) == 1
        assert REGISTRY.get_sample_value("alpr_silent_camera_last_frame_timestamp_seconds",
                                         {"camera": "cam-unit-live", "agency": ag}) is None
        with pytest.raises(ValueError, match="offline_after_s"):
            metrics.set_expected_cameras(["x"], offline_after_s=0)
    finally:
        metrics.set_expected_cameras([])


def test_expected_cameras_from_env():
    try:
        metrics.expected_cameras_from_env({"ALPR_EXPECTED_CAMERAS": "cam-env-1, cam-env-2",
                                           "ALPR_CAMERA_OFFLINE_AFTER_S": "60"})
        assert value("alpr_cameras_expected", agency="unknown") == 2
        assert record("cam-env-2")["expected"] is True
    finally:
        metrics.set_expected_cameras([])


def test_hotlist_sizes_and_age_per_list():
    from alpr.records import HotlistEntry

    entries = [HotlistEntry(entry_id=f"e{i}", plate=f"UNIT{i}", list_code="UNITV", created_ts=100.0 + i)
               for i in range(3)] + [HotlistEntry(entry_id="w", plate="AB*12", list_code="UNITW", created_ts=50.0)]
    metrics.observe_hotlist(entries, version=7, now=1234.0)
    assert value("alpr_hotlist_entries", list="UNITV") == 3
    assert value("alpr_hotlist_entries", list="UNITW") == 1
    assert value("alpr_hotlist_last_update_timestamp_seconds", list="UNITV") == 102.0
    assert value("alpr_hotlist_version") == 7
    metrics.observe_hotlist(entries[:3])  # list UNITW removed -> 0, not stale
    assert value("alpr_hotlist_entries", list="UNITW") == 0


def test_governance_helpers():
    from alpr.governance.access_log import ChainReport

    before = value("alpr_access_log_events_total", action="search_reads", purpose="STOLEN-VEHICLE", outcome="allowed")
    metrics.record_access_event("search_reads", "STOLEN-VEHICLE")
    assert value("alpr_access_log_events_total", action="search_reads", purpose="STOLEN-VEHICLE",
                 outcome="allowed") == before + 1
    metrics.record_access_event("login", "", "denied")
    assert value("alpr_access_log_events_total", action="login", purpose="none", outcome="denied") >= 1

    ok_runs, rows = value("alpr_purge_runs_total", result="success"), value("alpr_purge_rows_total")
    metrics.record_purge(rows=12, ok=True, now=2000.0)
    metrics.record_purge(ok=False, now=3000.0)
    assert value("alpr_purge_runs_total", result="success") == ok_runs + 1
    assert value("alpr_purge_rows_total") == rows + 12
    assert value("alpr_purge_last_success_timestamp_seconds") == 2000.0
    assert value("alpr_purge_last_failure_timestamp_seconds") == 3000.0

    metrics.observe_chain_report(ChainReport(ok=False, checked=4, first_bad_seq=3, reason="record edited"))
    assert value("alpr_audit_chain_valid") == 0 and value("alpr_audit_chain_records") == 4
    metrics.observe_chain_report(ChainReport(ok=True, checked=5))
    assert value("alpr_audit_chain_valid") == 1
    assert value("alpr_audit_chain_last_verification_timestamp_seconds") > 0

    before = value("alpr_sharing_requests_total", status="approved")
    metrics.record_sharing("approved")
    assert value("alpr_sharing_requests_total", status="approved") == before + 1
    with pytest.raises(ValueError, match="sharing status"):
        metrics.record_sharing("maybe")
    metrics.record_evidence_hold("placed", active=2)
    assert value("alpr_evidence_holds_active") == 2
    with pytest.raises(ValueError, match="evidence hold action"):
        metrics.record_evidence_hold("shredded")


def test_store_and_kafka_helpers():
    metrics.observe_store_write("cassandra", "reads", rows=10, seconds=0.02)
    metrics.observe_store_write("cassandra", "reads", rows=10, seconds=0.5, ok=False)
    metrics.record_store_retry("cassandra", "reads_by_plate", 3)
    assert value("alpr_store_rows_written_total", backend="cassandra", table="reads") >= 10
    assert value("alpr_store_write_errors_total", backend="cassandra", table="reads") >= 1
    assert value("alpr_store_write_retries_total", backend="cassandra", table="reads_by_plate") >= 3
    assert value("alpr_store_write_latency_seconds_count", backend="cassandra", table="reads") >= 2
    metrics.set_kafka_lag("frames", 2, 41, "alpr-pipeline")
    assert value("alpr_kafka_consumer_lag_messages", topic="frames", partition="2", group="alpr-pipeline") == 41
    metrics.set_kafka_lag("frames", 2, -5, "alpr-pipeline")  # position past a stale watermark
    assert value("alpr_kafka_consumer_lag_messages", topic="frames", partition="2", group="alpr-pipeline") == 0
    assert metrics.store_backend("sqlite:.run/x.db") == "sqlite"
    assert metrics.store_backend("cassandra://h:1/ks") == "cassandra"


# --------------------------------------------------------------------------- backend proxy
class _ArrayBackend:
    """A tiny InferenceBackend (the Protocol) with real array maths, to meter."""

    charset = ["<blank>", "A", " "]

    def detect(self, batch):
        return batch.mean(axis=1, keepdims=True)

    def recognize(self, batch):
        if batch.shape[0] > 3:
            raise RuntimeError("batch too large for this test backend")
        return np.zeros((batch.shape[0], batch.shape[3] // 8, 3), np.float32)


def test_instrumented_backend_times_calls_and_passes_errors_through():
    b = InstrumentedBackend(_ArrayBackend(), "unit")
    count = value("alpr_inference_latency_seconds_count", backend="unit", model="det")
    out = b.detect(np.ones((4, 3, 32, 32), np.float32))
    assert out.shape == (4, 1, 32, 32)
    assert value("alpr_inference_latency_seconds_count", backend="unit", model="det") == count + 1
    assert value("alpr_inference_batch_size_sum", backend="unit", model="det") >= 4
    assert b.charset == _ArrayBackend.charset
    with pytest.raises(RuntimeError, match="too large"):
        b.recognize(np.ones((5, 3, 48, 64), np.float32))
    assert value("alpr_inference_errors_total", backend="unit", model="rec", error="RuntimeError") >= 1
    clone = pickle.loads(pickle.dumps(b))  # Beam pickles the backend factory's products
    assert clone.recognize(np.ones((2, 3, 48, 64), np.float32)).shape == (2, 8, 3)


# --------------------------------------------------------------------------- /metrics server
def test_metrics_server_serves_registry_cameras_and_is_idempotent():
    metrics.observe_frame("cam-unit-http", "AG-HTTP", capture_ts=1.0)
    server = start_metrics_server(0, addr="127.0.0.1")
    try:
        assert start_metrics_server(server.port, addr="127.0.0.1") is server
        text = fetch(server.url)
        assert 'alpr_frames_total{agency="AG-HTTP"} 1.0' in text
        assert "cam-unit-http" not in text  # per-camera detail is not a label
        assert "# TYPE alpr_capture_to_alert_latency_seconds histogram" in text
        base = server.url.rsplit("/", 1)[0]
        cams = json.loads(fetch(f"{base}/cameras?agency=AG-HTTP"))
        assert [(r["camera_id"], r["frames"]) for r in cams] == [("cam-unit-http", 1)]
        assert json.loads(fetch(f"{base}/cameras?agency=AG-HTTP&status=never_seen")) == []
    finally:
        server.stop()


def test_metrics_server_busy_port_is_a_clear_error_and_workers_take_the_next_port():
    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        with pytest.raises(MetricsServerError, match=f":{port}"):
            start_metrics_server(port)
        server = ensure_worker_server({"ALPR_METRICS_PORT": str(port), "ALPR_METRICS_PORT_SPAN": "20"})
        assert server is not None and port < server.port < port + 20
        server.stop()
        assert ensure_worker_server({"ALPR_METRICS_PORT": "not-a-port"}) is None
        with pytest.raises(MetricsServerError, match="0..65535"):
            start_metrics_server(70000)
    finally:
        busy.close()


# --------------------------------------------------------------------------- Beam bridge
def test_beam_metrics_bridged_to_prometheus():
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.options.pipeline_options import PipelineOptions

    from alpr.observability import export_beam_metrics

    def count(x):
        Metrics.counter("alpr_unit", "elements").inc()
        Metrics.distribution("alpr_unit", "sizes").update(x)
        return x

    opts = PipelineOptions(["--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"])
    p = beam.Pipeline(options=opts)
    _ = p | beam.Create([1, 2, 3, 10]) | beam.Map(count)
    result = p.run()
    result.wait_until_finish()
    counters = export_beam_metrics(result)
    assert counters[("alpr_unit", "elements")] == 4
    assert value("alpr_beam_counter", namespace="alpr_unit", name="elements") == 4
    assert value("alpr_beam_distribution", namespace="alpr_unit", name="sizes", stat="sum") == 16
    assert value("alpr_beam_distribution", namespace="alpr_unit", name="sizes", stat="max") == 10
    assert value("alpr_beam_distribution", namespace="alpr_unit", name="sizes", stat="mean") == 4


# --------------------------------------------------------------------------- PromQL catalogue
def test_promql_parser_finds_metrics_labels_and_ignores_functions():
    refs = catalog.parse_expr('sum by (camera) (rate(alpr_frames_total{camera=~"a|b", agency!="x{"}[5m])) '
                              '/ on (job) histogram_quantile(0.9, rate(foo_bucket[1m])) > 2e3 or vector(0)')
    got = {r.metric: r.labels for r in refs}
    assert got == {"alpr_frames_total": {"camera", "agency"}, "foo_bucket": set()}


def test_catalogue_check_catches_unknown_metrics_and_labels(tmp_path):
    rules = tmp_path / "bad.rules.yml"
    rules.write_text("groups:\n- name: g\n  rules:\n"
                     "  - alert: A\n    expr: rate(alpr_frames_totl[5m]) > 0\n"
                     "  - alert: B\n    expr: alpr_reads_total{plate=\"X\"} > 0\n"
                     "  - alert: C\n    expr: sum by (lane) (alpr_reads_total) > 0\n")
    refs = catalog.references(rules=[rules])
    exposed = catalog.exposed_names()
    problems = catalog.unknown_references(refs, exposed)
    assert any("alpr_frames_totl is not exported" in p for p in problems)
    assert any("alpr_reads_total has no label(s) ['plate']" in p for p in problems)
    assert any("['lane']" in p for p in catalog.unknown_grouping(refs, exposed))


def test_no_high_cardinality_labels():
    # camera: one series per camera is 10,000 per family; only the bounded top-k collector names cameras
    forbidden = {"plate", "read_id", "alert_id", "frame_id", "user", "username", "case_number", "reason", "camera"}
    for obj in vars(metrics).values():
        if hasattr(obj, "_labelnames"):
            assert not forbidden & set(obj._labelnames), obj._name
    named = {name for name, labels in metrics.COLLECTED_LABELS.items() if "camera" in labels}
    assert named == {"alpr_silent_camera_last_frame_timestamp_seconds"}


def test_dashboards_on_disk_match_the_generator():
    on_disk = {p.name: p.read_text() for p in (ROOT / "infra/grafana/dashboards").glob("*.json")}
    assert on_disk == dashboards.render_all(), \
        "regenerate: python -m alpr.observability.dashboards infra/grafana/dashboards"
    titles = {json.loads(t)["uid"] for t in on_disk.values()}
    assert titles == {"alpr-overview", "alpr-flink", "alpr-cameras", "alpr-inference", "alpr-storage", "alpr-alerts",
                      "alpr-compliance"}
    for text in on_disk.values():
        d = json.loads(text)
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)) and all(p["targets"] for p in d["panels"])
        for p in d["panels"]:
            assert p["datasource"]["uid"] == "prometheus"


# --------------------------------------------------------------------------- CLI
def test_cli_metrics_serve_exposes_expected_camera_offline():
    proc = subprocess.Popen([sys.executable, "-m", "alpr.app.cli", "metrics", "serve", "--port", "0", "--addr",
                             "127.0.0.1", "--expected-cameras", "cam-gw-1,cam-gw-2", "--duration", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split("serving ", 1)[1].strip()
        text = fetch(url)
        assert 'alpr_cameras_offline{agency="unknown"} 2.0' in text
        assert "alpr_purge_last_success_timestamp_seconds" in text
        cams = json.loads(fetch(url.rsplit("/", 1)[0] + "/cameras?status=never_seen"))
        assert sorted(r["camera_id"] for r in cams) == ["cam-gw-1", "cam-gw-2"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_metrics_check_passes_on_the_repo():
    out = subprocess.run([sys.executable, "-m", "alpr.app.cli", "metrics", "check", str(ROOT)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 problem(s)" in out.stdout


def test_decode_stage_counts_frames_failures_and_dead_letters():
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from alpr.pipelines.transforms import DecodeFrames
    from alpr.records import Frame

    cam, ag = "cam-unit-decode", "AG-DECODE"
    base = {k: value("alpr_dead_letters_total", stage="decode", reason_class=k) for k in ("empty", "undecodable")}
    frames = [Frame(cam, ag, 0, 10.0, b""), Frame(cam, ag, 1, 11.0, b"\xff\xd8 definitely not a jpeg" * 4)]
    p = beam.Pipeline(options=PipelineOptions(["--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"]))
    _ = p | beam.Create(frames) | DecodeFrames()
    p.run().wait_until_finish()
    assert value("alpr_frames_total", agency=ag) == 2
    assert value("alpr_frame_decode_failures_total", agency=ag) == 2
    assert value("alpr_frames_decoded_total", agency=ag) == 0
    assert value("alpr_dead_letters_total", stage="decode", reason_class="empty") == base["empty"] + 1
    assert value("alpr_dead_letters_total", stage="decode", reason_class="undecodable") == base["undecodable"] + 1
    rec = record(cam)
    assert (rec["frames"], rec["decode_failures"], rec["decoded"], rec["last_capture_ts"]) == (2, 2, 0, 11.0)
