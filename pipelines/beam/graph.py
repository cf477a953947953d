"""The Beam pipeline graph on the engine-neutral stages: the embedded default (``alpr demo``,
``alpr run`` on a synthetic camera, a folder or a video) and bounded backfills or replays
(``--source kafka`` reads the frames topic up to its current end once, then commits).

Beam runs here on its in-process FnApiRunner only. The long-running streaming job on a
cluster is the PyFlink job (``alpr.pipelines.flink``, ``alpr run --runner flink``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from alpr.config import ConfigError, Settings
from alpr.observability import (expected_cameras_from_env, export_beam_metrics, record_pipeline_run,
                                start_metrics_server)
from alpr.records import DEAD, HotlistEntry
from alpr.pipelines.core.recognize import FRAMES_SCHEME

from .sinks import WriteAlerts, WriteDeadLetters, WriteGroups, WriteReads
from .stages import CONFIRMED, DecodeFrames, DedupeAlerts, GroupPlates, MatchHotlist, ReadFrames, RecognizePlates

log = logging.getLogger(__name__)

COUNTERS = ("frames_in", "frames_decoded", "reads", "plate_groups", "groups_unconfirmed",
            "alerts", "alerts_deduplicated")
FN_API_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


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
    decoded = frames | "DecodeFrames" >> DecodeFrames(pixels=not settings.inference.startswith(FRAMES_SCHEME))
    recognized = decoded["images"] | "RecognizePlates" >> RecognizePlates(settings)
    reads = recognized["reads"]
    grouped = reads | "GroupPlates" >> GroupPlates(settings.grouping, with_confirmed=True)
    groups = grouped.groups
    side = None
    if hotlist_entries:
        side = p | "HotlistEntries" >> beam.Create(list(hotlist_entries))
    alerts = (grouped[CONFIRMED]
              | "MatchHotlist" >> MatchHotlist(settings, side_entries=side)
              | "DedupeAlerts" >> DedupeAlerts(settings.alert_dedupe_s))
    reads | "WriteReads" >> WriteReads(settings)
    groups | "WriteGroups" >> WriteGroups(settings)
    alerts | "WriteAlerts" >> WriteAlerts(settings)
    dead = (*dead_parts, decoded[DEAD], recognized[DEAD]) | "DeadLetters" >> beam.Flatten()
    dead | "WriteDeadLetters" >> WriteDeadLetters(settings)
    return {"reads": reads, "groups": groups, "confirmed": grouped[CONFIRMED], "alerts": alerts,
            "dead_letters": dead}


def pipeline_options(settings: Settings, extra: Sequence[str] = ()) -> PipelineOptions:
    """Beam's in-process runner (the FnApiRunner is what the DirectRunner picks for batch
    anyway; naming it avoids the Prism runner, which downloads its binary at run time)."""
    if settings.runner != "direct":
        raise ConfigError(f"the Beam pipeline runs in-process only (runner 'direct'), not {settings.runner!r}: "
                          "the streaming job on a Flink cluster is the PyFlink job (alpr run --runner flink)")
    return PipelineOptions([f"--runner={FN_API_RUNNER}", *extra], save_main_session=False)


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


def finished_ok(state) -> bool:
    """Only a pipeline that ended DONE counts as a success (offsets are committed only then)."""
    return str(state).split(".")[-1] == "DONE"


def run(settings: Settings, hotlist_entries: Optional[Sequence[HotlistEntry]] = None,
        extra_args: Sequence[str] = (), frames=None) -> RunSummary:
    """Run the pipeline to completion (bounded sources) and return its counters. ``frames``,
    if given, is a callable ``pipeline -> PCollection of Frames`` replacing the configured
    source (the CLI's progress-reporting source, see alpr.app.live)."""
    t0 = time.time()
    _start_metrics(settings)
    plan = None
    if settings.source == "kafka" and frames is None:
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
    if not finished_ok(state):
        record_pipeline_run(str(state), time.time() - t0)
        raise RuntimeError(f"pipeline ended in state {state}; no offsets were committed")
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
    """Serve /metrics when ``Settings.metrics_port`` is set (the DoFns run in this process,
    so this one endpoint shows everything)."""
    expected_cameras_from_env()
    if settings.metrics_port is not None:
        start_metrics_server(int(settings.metrics_port))
