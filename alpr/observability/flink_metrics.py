"""The Flink job's metrics as Prometheus sees them, for the dashboards, rules and their checks.

Flink's Prometheus reporter (``metrics.reporter.prom``, ``infra/flink/config.yaml.in``) names a
metric ``flink_`` + its logical scope + its groups + its name, every character outside
``[a-zA-Z0-9:_]`` replaced by ``_``, and turns the scope variables into labels (``job_name``,
``task_name``, ``operator_name``, ``subtask_index``, ``tm_id``, ``host``...; label *values* are
filtered the same way: the source ``frames`` is ``operator_name="Source:_frames"``, Kafka split
``frames-0`` is ``split="frames_0"``, chained Python functions are one operator named after them
all, e.g. ``parse_frames___stream_key_by_map_operator``). Counters are exported as gauges
without a ``_total`` suffix; ``rate()`` works on them (a restart resets them, like a counter).

* The job's own metrics: each PyFlink operator adds a group ``alpr``
  (:mod:`alpr.pipelines.flink.operators`), so ``g.counter("frames_in")`` is
  ``flink_taskmanager_job_task_operator_alpr_frames_in``.
* Flink's own: the ones the dashboards and rules use are :data:`SYSTEM` (checked against the
  Flink 2.2 classes: ``MetricNames``, ``DefaultCheckpointStatsTracker``, the source operator's
  per-split watermark group ``split.<id>.watermark`` and ``KafkaSourceReaderMetrics``).

:func:`unknown_references` is the Flink half of ``alpr metrics check``: every ``flink_*`` series
in a dashboard or rule is one of those, with labels Flink gives it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

OPERATOR = "flink_taskmanager_job_task_operator_"
JOB_PREFIX = OPERATOR + "alpr_"
# KafkaSource "frames" (pipelines/flink/job.py): operator_name as the reporter writes it
FRAMES_SOURCE = 'operator_name=~"(Source:_)?frames"'

_JM, _JOB, _TM, _TASK = "flink_jobmanager_", "flink_jobmanager_job_", "flink_taskmanager_", "flink_taskmanager_job_task_"
SYSTEM = frozenset({
    # JobManager / job: running jobs, restarts, checkpoints (DefaultCheckpointStatsTracker)
    _JM + "numRegisteredTaskManagers", _JM + "numRunningJobs", _JM + "taskSlotsAvailable", _JM + "taskSlotsTotal",
    _JOB + "uptime", _JOB + "numRestarts", _JOB + "totalNumberOfCheckpoints", _JOB + "numberOfCompletedCheckpoints",
    _JOB + "numberOfFailedCheckpoints", _JOB + "numberOfInProgressCheckpoints", _JOB + "lastCheckpointDuration",
    _JOB + "lastCheckpointSize", _JOB + "lastCheckpointFullSize", _JOB + "lastCheckpointCompletedTimestamp",
    # TaskManager JVM
    _TM + "Status_JVM_Memory_Heap_Used", _TM + "Status_JVM_Memory_Heap_Max", _TM + "Status_JVM_CPU_Load",
    # task: backpressure and busy time
    _TASK + "backPressuredTimeMsPerSecond", _TASK + "busyTimeMsPerSecond", _TASK + "idleTimeMsPerSecond",
    _TASK + "isBackPressured",
    # operator: records and watermarks
    OPERATOR + "numRecordsIn", OPERATOR + "numRecordsOut", OPERATOR + "numRecordsInPerSecond",
    OPERATOR + "currentInputWatermark", OPERATOR + "currentOutputWatermark",
    # sources (FLIP-33) and the KafkaSource: event-time lag, backlog, per-partition offsets
    OPERATOR + "currentEmitEventTimeLag", OPERATOR + "currentFetchEventTimeLag", OPERATOR + "watermarkLag",
    OPERATOR + "pendingRecords", OPERATOR + "sourceIdleTime",
    OPERATOR + "KafkaSourceReader_topic_partition_currentOffset",
    OPERATOR + "KafkaSourceReader_topic_partition_committedOffset",
    # per split (= Kafka partition) watermark of a source: label split="<topic>_<partition>"
    OPERATOR + "split_watermark_currentWatermark", OPERATOR + "split_watermark_activeTimeMsPerSecond",
    OPERATOR + "split_watermark_idleTimeMsPerSecond", OPERATOR + "split_watermark_pausedTimeMsPerSecond",
})

_BASE = {"host", "tm_id"}
_JOB_LABELS = {"host", "job_id", "job_name"}
_TASK_LABELS = _BASE | {"job_id", "job_name", "task_id", "task_name", "task_attempt_id", "task_attempt_num",
                        "subtask_index"}
_OPERATOR_LABELS = _TASK_LABELS | {"operator_id", "operator_name"}
SCRAPE_LABELS = {"job", "instance"}


def labels_of(metric: str) -> set[str]:
    """The labels the reporter puts on ``metric`` (scope variables + key/value groups)."""
    if metric.startswith(OPERATOR):
        extra = {"topic", "partition"} if "_topic_partition_" in metric else {"split"} if "_split_" in metric else set()
        return _OPERATOR_LABELS | extra
    if metric.startswith(_TASK):
        return _TASK_LABELS
    if metric.startswith(_JOB):
        return _JOB_LABELS
    if metric.startswith(_TM):
        return _BASE
    return {"host"}


def job_metric_names(root: str | Path) -> set[str]:
    """Names the job registers in its ``alpr`` groups (read from the operators' source, so the
    check needs no PyFlink): ``g.counter("x")`` / ``g.gauge("x", ...)``; ``store_{self.table}_*``
    expanded with the tables ``job.py`` gives :class:`WriteStore`."""
    flink = Path(root) / "pipelines" / "flink"
    src = "\n".join((flink / f).read_text() for f in ("operators.py", "sink_operators.py"))
    tables = re.findall(r'WriteStore\(\s*settings\s*,\s*"(\w+)"\s*\)', (flink / "job.py").read_text())
    names: set[str] = set()
    for name in re.findall(r'\.(?:counter|gauge|meter|distribution)\(\s*f?"([A-Za-z0-9_{}.]+)"', src):
        if "{" in name:
            names |= {re.sub(r"\{[^}]*\}", t, name) for t in tables}
        else:
            names.add(name)
    return names


def unknown_references(refs: Iterable, job_names: set[str]) -> list[str]:
    """Problems with ``flink_*`` references: not a metric of the job or of :data:`SYSTEM`, or a
    matcher label the reporter does not set."""
    problems = []
    for r in refs:
        if not r.metric.startswith("flink_"):
            continue
        if r.metric.startswith(JOB_PREFIX):
            if r.metric[len(JOB_PREFIX):] not in job_names:
                problems.append(f"{r.where}: {r.metric}: the job registers no alpr metric "
                                f"{r.metric[len(JOB_PREFIX):]!r} (pipelines/flink/operators.py, sink_operators.py)")
                continue
        elif r.metric not in SYSTEM:
            problems.append(f"{r.where}: {r.metric} is not a Flink metric this project knows (flink_metrics.SYSTEM)")
            continue
        bad = r.labels - labels_of(r.metric) - SCRAPE_LABELS
        if bad:
            problems.append(f"{r.where}: {r.metric} has no label(s) {sorted(bad)}")
    return sorted(set(problems))
