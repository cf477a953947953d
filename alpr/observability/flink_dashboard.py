"""The *ALPR / Flink job* dashboard: the streaming job as Flink's Prometheus reporter shows it.

The job's own ``alpr`` metric group (frames in, reads, groups, alerts, dead letters, inference
latency and batch size, store writes, hotlist) and Flink's: watermark lag per Kafka partition
(the source's per-split watermark), source event-time lag and backlog, operator watermarks,
checkpoint duration, size and failures, backpressure, restarts. Names: :mod:`.flink_metrics`.
"""

from __future__ import annotations

from .flink_metrics import FRAMES_SOURCE, JOB_PREFIX, OPERATOR
from .grafana import dashboard, query_var, stat, timeseries

JOB = 'job_name=~"$job"'
STORE_TABLES = ("reads", "groups", "alerts", "dead_letters")


def _sel(*matchers: str) -> str:
    used = [m for m in matchers if m]
    return "{" + ", ".join(used) + "}" if used else ""


def job_metric(name: str, extra: str = "", job: str = JOB) -> str:
    """``flink_taskmanager_job_task_operator_alpr_<name>{job_name=~"$job"...}`` (``job=""``: every
    job, for dashboards without the ``$job`` variable)."""
    return f"{JOB_PREFIX}{name}{_sel(job, extra)}"


def job_rate(name: str, window: str = "5m", job: str = JOB) -> str:
    return f"sum(rate({job_metric(name, job=job)}[{window}]))"


def flink(name: str, extra: str = "") -> str:
    """A Flink metric with the job selector (``name`` with its scope prefix)."""
    return f"{name}{_sel(JOB, extra)}"


SPLIT_WM = flink(OPERATOR + "split_watermark_currentWatermark", FRAMES_SOURCE)
CKPT = "flink_jobmanager_job_"


def flink_job() -> dict:
    return dashboard("alpr-flink", "ALPR / Flink job", [
        stat("Jobs running", "max(flink_jobmanager_numRunningJobs)", red_below=1),
        stat("TaskManagers", "max(flink_jobmanager_numRegisteredTaskManagers)", red_below=1),
        stat("Restarts (1h)", f"sum(increase({flink(CKPT + 'numRestarts')}[1h])) or vector(0)", red_above=1),
        stat("Failed checkpoints (1h)",
             f"sum(increase({flink(CKPT + 'numberOfFailedCheckpoints')}[1h])) or vector(0)", red_above=1),
        stat("Last checkpoint duration", f"max({flink(CKPT + 'lastCheckpointDuration')})", "ms", red_above=60000),
        stat("Largest partition watermark lag", f"max(time() * 1000 - ({SPLIT_WM} > 0))", "ms", red_above=300000,
             description="Wall clock minus the event-time watermark of the frames source, worst Kafka partition."),
        timeseries("Job throughput", [
            (job_rate("frames_in"), "frames in"), (job_rate("frames_decoded"), "decoded"),
            (job_rate("reads"), "reads"), (job_rate("plate_groups"), "groups closed"),
            (job_rate("groups_confirmed"), "groups confirmed"), (job_rate("hotlist_hits"), "hotlist hits"),
            (job_rate("alerts"), "alerts"), (job_rate("alerts_deduplicated"), "duplicates suppressed")], "ops", w=12),
        timeseries("Dead letters", [
            (job_rate("dead_letters"), "dead letters / s"),
            (f"{job_rate('dead_letters', '15m')} / {job_rate('frames_in', '15m')}", "share of frames (15m)")],
            w=12, description="Why: the dead-letter topic and table (reason, stage); counts only here."),
        timeseries("Inference latency per batch", [
            (f"{job_rate('inference_ms_total')} / {job_rate('inference_batches')}", "mean"),
            (f"max({job_metric('inference_latency_ms_last')})", "last batch (slowest subtask)")], "ms"),
        timeseries("Inference batch size", [
            (f"{job_rate('frames_recognized')} / {job_rate('inference_batches')}", "mean frames per call"),
            (f"max({job_metric('inference_batch_size_last')})", "last batch (largest subtask)"),
            (job_rate("inference_batches"), "calls / s")]),
        timeseries("Watermark lag per Kafka partition (wall clock - partition watermark)", [
            (f"time() * 1000 - max by (split) ({SPLIT_WM} > 0)", "{{split}}")], "ms",
            description="Per split of the frames KafkaSource (split = <topic>_<partition>). An idle partition "
                        "(quiet cameras) keeps its watermark: see the activity panel."),
        timeseries("Partition activity (ms per second)", [
            (f"max by (split) ({flink(OPERATOR + 'split_watermark_activeTimeMsPerSecond', FRAMES_SOURCE)})",
             "active {{split}}"),
            (f"max by (split) ({flink(OPERATOR + 'split_watermark_idleTimeMsPerSecond', FRAMES_SOURCE)})",
             "idle {{split}}")]),
        timeseries("Frames source: event-time lag per subtask", [
            (f"max by (subtask_index) ({flink(OPERATOR + 'currentEmitEventTimeLag', FRAMES_SOURCE)})",
             "emit lag #{{subtask_index}}"),
            (f"max by (subtask_index) ({flink(OPERATOR + 'watermarkLag', FRAMES_SOURCE)})",
             "watermark lag #{{subtask_index}}")], "ms"),
        timeseries("Kafka: backlog and consumption per partition", [
            (f"sum by (subtask_index) ({flink(OPERATOR + 'pendingRecords', FRAMES_SOURCE)})",
             "records pending #{{subtask_index}}"),
            (f"sum by (topic, partition) (rate({flink(OPERATOR + 'KafkaSourceReader_topic_partition_currentOffset')}"
             f"[5m]))", "offsets / s {{topic}}[{{partition}}]")]),
        timeseries("Operator watermark lag (wall clock - input watermark)", [
            (f"time() * 1000 - min by (operator_name) ({flink(OPERATOR + 'currentInputWatermark')} > 0)",
             "{{operator_name}}")], "ms", w=24,
            description="group_match closes groups on its event-time timers: a flat watermark here means groups "
                        "stay open (ALPRFlinkWatermarkStalled)."),
        timeseries("Checkpoint duration", [
            (f"max({flink(CKPT + 'lastCheckpointDuration')})", "last checkpoint")], "ms", w=8),
        timeseries("Checkpoint size", [
            (f"max({flink(CKPT + 'lastCheckpointSize')})", "last (incremental)"),
            (f"max({flink(CKPT + 'lastCheckpointFullSize')})", "last (full state)")], "bytes", w=8),
        timeseries("Checkpoints per 10 min", [
            (f"sum(increase({flink(CKPT + 'numberOfCompletedCheckpoints')}[10m]))", "completed"),
            (f"sum(increase({flink(CKPT + 'numberOfFailedCheckpoints')}[10m]))", "failed")], w=8),
        timeseries("Backpressure by task (ms per second)", [
            (f"max by (task_name) ({flink('flink_taskmanager_job_task_backPressuredTimeMsPerSecond')})",
             "{{task_name}}")], "ms"),
        timeseries("Busy time by task (ms per second)", [
            (f"max by (task_name) ({flink('flink_taskmanager_job_task_busyTimeMsPerSecond')})", "{{task_name}}")],
            "ms"),
        timeseries("Store writes: rows / s", [(job_rate(f"store_{t}_rows"), t) for t in STORE_TABLES], "ops"),
        timeseries("Store writes: ms per row", [
            (f"{job_rate(f'store_{t}_ms_total')} / {job_rate(f'store_{t}_rows')}", t) for t in STORE_TABLES], "ms"),
        timeseries("Hotlist in broadcast state", [
            (f"max({job_metric('hotlist_entries')})", "entries"),
            (job_rate("hotlist_changes", "15m"), "changes applied / s")]),
        timeseries("TaskManager heap used", [
            ("max by (tm_id) (flink_taskmanager_Status_JVM_Memory_Heap_Used)", "{{tm_id}}")], "bytes"),
    ], tags=["flink", "pipeline"], variables=[query_var("job", "label_values(flink_jobmanager_job_uptime, job_name)",
                                                         "Flink job")],
        description="The streaming job on Flink: throughput, inference, watermarks per partition, checkpoints, "
                    "backpressure.")
