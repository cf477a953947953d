"""The pipeline graph: the same code for the embedded default and for Kafka -> Flink.

Only :class:`~alpr.config.Settings` tells the targets apart (runner, source, inference,
store, sinks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from alpr.config import Settings
from alpr.observability import (expected_cameras_from_env, export_beam_metrics, record_pipeline_run,
                                start_metrics_server)
from alpr.records import HotlistEntry
from alpr.pipelines.transforms import (
    DEAD, DecodeFrames, DedupeAlerts, GroupPlates, MatchHotlist, ReadFrames, RecognizePlates,
    WriteAlerts, WriteDeadLetters, WriteGroups, WriteReads,
)

log = logging.getLogger(__name__)

COUNTERS = ("frames_in", "frames_decoded", "reads", "plate_groups", "groups_unconfirmed",
            "alerts", "alerts_deduplicated")


def build(p: beam.Pipeline, settings: Settings, hotlist_entries: Optional[Sequence[HotlistEntry]] = None,
          frames=None, kafka_plan=None) -> dict:
    """Attach the whole graph to ``p``. ``frames`` may be a ready PCollection of Frames
    (tests); otherwise the configured source is read. Returns the main PCollections."""
    dead_parts = []
    if frames is None:
        if settings.source == "kafka":
            from alpr.connectors.kafka import ReadFramesFromKafka

            source = p | "ReadFrames" >> ReadFramesFromKafka(settings.kafka, plan=kafka_plan)
            frames = source.frames
            dead_parts.append(source[DEAD])
        else:
            frames = p | "ReadFrames" >> ReadFrames(settings)
    decoded = frames | "DecodeFrames" >> DecodeFrames()
    recognized = decoded["images"] | "RecognizePlates" >> RecognizePlates(settings)
    reads = recognized["reads"]
    groups = reads | "GroupPlates" >> GroupPlates(settings.grouping)
    side = None
    if hotlist_entries:
        side = p | "HotlistEntries" >> beam.Create(list(hotlist_entries))
    alerts = (groups
              | "MatchHotlist" >> MatchHotlist(settings, side_entries=side)
              | "DedupeAlerts" >> DedupeAlerts(settings.alert_dedupe_s))
    reads | "WriteReads" >> WriteReads(settings)
    groups | "WriteGroups" >> WriteGroups(settings)
    alerts | "WriteAlerts" >> WriteAlerts(settings)
    dead = (*dead_parts, decoded[DEAD], recognized[DEAD]) | "DeadLetters" >> beam.Flatten()
    dead | "WriteDeadLetters" >> WriteDeadLetters(settings)
    return {"reads": reads, "groups": groups, "alerts": alerts, "dead_letters": dead}


def pipeline_options(settings: Settings, extra: Sequence[str] = ()) -> PipelineOptions:
    if settings.runner == "direct":
        # The FnApiRunner is what the DirectRunner picks for batch anyway; naming it avoids
        # the Prism runner, which tries to download its binary at run time.
        args = ["--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"]
    else:
        args = ["--runner=FlinkRunner", f"--flink_master={settings.flink_master}",
                f"--flink_version={settings.flink_version}", f"--parallelism={settings.parallelism}"]
        if settings.flink_job_server_jar:
            args.append(f"--flink_job_server_jar={settings.flink_job_server_jar}")
        if settings.environment_type:
            args.append(f"--environment_type={settings.environment_type}")
        if settings.environment_config:
            args.append(f"--environment_config={settings.environment_config}")
    return PipelineOptions(args + list(extra), save_main_session=False)


@dataclass
class RunSummary:
    counters: dict = field(default_factory=dict)
    dead_letters: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        c = self.counters
        return (f"summary: frames={c.get('frames_in', 0)} decoded={c.get('frames_decoded', 0)} "
                f"reads={c.get('reads', 0)} groups={c.get('plate_groups', 0)} "
                f"alerts={c.get('alerts', 0)} dead_letters={self.dead_letters} "
                f"in {self.seconds:.1f}s")


def run(settings: Settings, hotlist_entries: Optional[Sequence[HotlistEntry]] = None,
        extra_args: Sequence[str] = (), frames=None) -> RunSummary:
    """Run the pipeline to completion (bounded sources) and return its counters. ``frames``,
    if given, is a callable ``pipeline -> PCollection of Frames`` replacing the configured
    source (the CLI's progress-reporting source, see alpr.app.live)."""
    t0 = time.time()
    _start_metrics(settings)
    plan = None
    if settings.source == "kafka":
        from alpr.connectors.kafka import plan_snapshot

        plan = plan_snapshot(settings.kafka)
    p = beam.Pipeline(options=pipeline_options(settings, extra_args))
    build(p, settings, hotlist_entries, frames=frames(p) if frames else None, kafka_plan=plan)
    try:
        result = p.run()
        state = result.wait_until_finish()
    except Exception:
        record_pipeline_run("FAILED", time.time() - t0)
        raise
    if str(state).split(".")[-1] not in ("DONE", "None"):
        record_pipeline_run(str(state), time.time() - t0)
        raise RuntimeError(f"pipeline ended in state {state}")
    if plan:
        from alpr.connectors.kafka import commit_plan

        commit_plan(settings.kafka, plan)  # results are durable: only now move the offsets
    summary = RunSummary(seconds=time.time() - t0)
    try:
        for c in result.metrics().query()["counters"]:
            name = c.key.metric.name
            value = c.committed if c.committed is not None else c.attempted
            if name.startswith("dead_letters_"):
                summary.dead_letters += value
            summary.counters[name] = summary.counters.get(name, 0) + value
    except Exception as exc:  # some runners do not report metrics
        log.warning("metrics unavailable: %s", exc)
    try:
        export_beam_metrics(result)  # Beam's aggregated metrics -> alpr_beam_* on /metrics
    except Exception as exc:
        log.warning("beam metrics not bridged to prometheus: %s", exc)
    record_pipeline_run("DONE", summary.seconds)
    return summary


def _start_metrics(settings: Settings) -> None:
    """Serve /metrics when ``Settings.metrics_port`` is set. On the DirectRunner the DoFns run
    in this process, so this one endpoint shows everything; Flink SDK workers serve their own
    (``ALPR_METRICS_PORT`` in the worker pool environment, see alpr.observability.server)."""
    expected_cameras_from_env()
    if settings.metrics_port is not None:
        start_metrics_server(int(settings.metrics_port))
