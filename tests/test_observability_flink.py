"""The Flink job in Grafana and Prometheus (issue 13 item 10): the reporter is on and scraped, the
dashboards and rules use the job's own metrics under the names Flink's Prometheus reporter gives
them (flink_taskmanager_job_task_operator_alpr_<name>) and Flink's watermark, checkpoint and
backpressure metrics. No Flink needed: names come from the operators' source and a checked list."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from alpr.observability import catalog, flink_metrics

ROOT = Path(__file__).resolve().parents[1]
J = flink_metrics.JOB_PREFIX


def flink_refs(paths) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in paths:
        if r.metric.startswith("flink_"):
            out.setdefault(r.metric, set()).add(r.where)
    return out


def test_the_job_registers_the_metrics_sres_need():
    names = flink_metrics.job_metric_names(ROOT)
    for name in ("frames_in", "reads", "plate_groups", "alerts", "dead_letters", "inference_ms_total",
                 "inference_batches", "frames_recognized", "inference_batch_size_last", "inference_latency_ms_last",
                 "store_reads_rows", "store_groups_rows", "store_alerts_rows", "store_dead_letters_rows"):
        assert name in names, name


def test_flink_dashboard_and_rules_cover_item_10():
    dashboards, rules = catalog.repo_files(ROOT)
    flink_dash = [p for p in dashboards if p.name == "alpr-flink.json"]
    assert flink_dash, "infra/grafana/dashboards/alpr-flink.json (python -m alpr.observability.dashboards)"
    in_dash = flink_refs(catalog.references(flink_dash, []))
    for name in ("frames_in", "reads", "plate_groups", "alerts", "dead_letters", "inference_ms_total",
                 "inference_batches", "frames_recognized", "inference_batch_size_last"):
        assert J + name in in_dash, name
    op, job = flink_metrics.OPERATOR, "flink_jobmanager_job_"
    for name in (op + "split_watermark_currentWatermark", op + "currentEmitEventTimeLag", op + "pendingRecords",
                 op + "currentInputWatermark", job + "lastCheckpointDuration", job + "lastCheckpointSize",
                 job + "numberOfFailedCheckpoints", "flink_taskmanager_job_task_backPressuredTimeMsPerSecond"):
        assert name in in_dash, name
    # watermark lag per partition: by the split label of the frames source
    panels = json.loads(flink_dash[0].read_text())["panels"]
    per_partition = [p for p in panels if "per Kafka partition" in p["title"]]
    assert per_partition and "by (split)" in per_partition[0]["targets"][0]["expr"]

    doc = yaml.safe_load((ROOT / "infra/prometheus/alpr.rules.yml").read_text())
    flink_rules = {r["alert"]: r["expr"] for g in doc["groups"] if g["name"] == "alpr-flink" for r in g["rules"]}
    assert "currentInputWatermark" in flink_rules["ALPRFlinkWatermarkStalled"]
    assert "numRecordsIn" in flink_rules["ALPRFlinkWatermarkStalled"]  # only while records arrive
    assert "numberOfFailedCheckpoints" in flink_rules["ALPRFlinkCheckpointFailing"]
    assert "lastCheckpointDuration" in flink_rules["ALPRFlinkCheckpointSlow"]
    assert "backPressuredTimeMsPerSecond" in flink_rules["ALPRFlinkBackpressure"]
    assert J + "dead_letters" in flink_rules["ALPRFlinkDeadLetterRatioHigh"]
    # every one of them has a promtool unit test case
    tests = (ROOT / "infra/prometheus/tests/alpr.rules.test.yml").read_text()
    for name in ("ALPRFlinkWatermarkStalled", "ALPRFlinkWatermarkLagHigh", "ALPRFlinkCheckpointFailing",
                 "ALPRFlinkCheckpointSlow", "ALPRFlinkCheckpointsStalled", "ALPRFlinkBackpressure"):
        assert f"alertname: {name}" in tests, name


def test_every_flink_reference_is_a_real_metric_with_real_labels():
    dashboards, rules = catalog.repo_files(ROOT)
    refs = catalog.references(dashboards, rules)
    assert len(flink_refs(refs)) > 30
    assert flink_metrics.unknown_references(refs, flink_metrics.job_metric_names(ROOT)) == []


def test_the_check_catches_wrong_flink_names_and_labels(tmp_path):
    rules = tmp_path / "bad.rules.yml"
    rules.write_text("groups:\n- name: g\n  rules:\n"
                     f"  - alert: A\n    expr: rate({J}frames_total[5m]) > 0\n"
                     "  - alert: B\n    expr: flink_taskmanager_job_task_operator_alpr_reads_total > 0\n"
                     "  - alert: C\n    expr: flink_jobmanager_job_lastCheckpointDuration{operator_name=\"x\"} > 0\n"
                     "  - alert: D\n    expr: flink_jobmanager_checkpointFailures > 0\n")
    problems = flink_metrics.unknown_references(catalog.references(rules=[rules]), flink_metrics.job_metric_names(ROOT))
    assert any("'frames_total'" in p for p in problems)
    assert any("'reads_total'" in p for p in problems)  # Flink counters have no _total suffix
    assert any("has no label(s) ['operator_name']" in p for p in problems)
    assert any("flink_jobmanager_checkpointFailures is not a Flink metric" in p for p in problems)


def test_prometheus_scrapes_the_flink_reporter_where_it_listens():
    prom = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    props = compose["services"]["flink-jobmanager"]["environment"]["FLINK_PROPERTIES"]
    assert "metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory" in props
    port = int(props.split("metrics.reporter.prom.port:")[1].splitlines()[0].strip(' "'))
    assert jobs["flink-jobmanager"]["static_configs"][0]["targets"] == [f"flink-jobmanager:{port}"]
    sd = jobs["flink-taskmanager"]["dns_sd_configs"][0]  # one A record per TaskManager replica
    assert sd["names"] == ["flink-taskmanager"] and sd["port"] == port and sd["type"] == "A"
    assert compose["services"]["flink-taskmanager"]["environment"]["FLINK_PROPERTIES"] == props
    # the local cluster (infra/services.sh) has the reporter on as well, on FLINK_PROM_PORTS
    conf = (ROOT / "infra/flink/config.yaml.in").read_text()
    assert "metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory" in conf
    assert 'metrics.reporter.prom.port: "@FLINK_PROM_PORTS@"' in conf
    # the rules' target-down alert covers the Flink targets
    doc = yaml.safe_load((ROOT / "infra/prometheus/alpr.rules.yml").read_text())
    down = [r["expr"] for g in doc["groups"] for r in g["rules"] if r.get("alert") == "ALPRMetricsTargetDown"][0]
    assert "flink-jobmanager" in down and "flink-taskmanager" in down
