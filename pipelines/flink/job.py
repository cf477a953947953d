"""The ALPR streaming job on Flink (PyFlink DataStream API).

    Kafka frames --KafkaSource (per-partition event-time watermarks on capture time, idleness)--> parse
      -> key by recognition shard -> batch + decode + recognize (ONNX in-process or Triton)
      -> reads --> store (TTL from capture time)
      -> key by camera, connected to the hotlist topic as broadcast state
           -> grouping state machine (event-time timers) + match confirmed open groups at once
           -> closed groups --> store
           -> alerts -> key by (agency, entry) -> dedupe (keyed state, TTL) --> store, KafkaSink
      dead letters of every stage --> store, KafkaSink (dead-letter topic)
      frames (without bytes) -> key by camera -> per-camera health --> KafkaSink (health topic)

Run with ``bin/flink run -m HOST:PORT -py pipelines/flink/job.py -pyexec PY -pyclientexec PY -- ARGS``
(``alpr run --runner flink`` does that, :mod:`alpr.pipelines.flink.submit`); ``--local`` runs it
in a MiniCluster in this process. Settings: ``-c FILE`` / ``ALPR_*`` like ``alpr run``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional, Sequence

from alpr.pipelines.flink.options import DEFAULT_DELIVERY, DELIVERY, STARTING_OFFSETS

log = logging.getLogger("alpr.flink.job")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="alpr-flink-job", description=__doc__.split("\n\n")[0])
    p.add_argument("-c", "--config", help="YAML settings file (else ALPR_* environment)")
    p.add_argument("--job-name", default="alpr-stream")
    p.add_argument("--parallelism", type=int, default=None, help="default: the cluster's parallelism.default")
    p.add_argument("--max-parallelism", type=int, default=128, help="key groups; fixed for savepoint compatibility")
    p.add_argument("--hotlist", help="hotlist file whose entries the job starts with (then the hotlist topic)")
    p.add_argument("--hotlist-list", default="HOT")
    p.add_argument("--governance-db", default=None,
                   help="governance SQLite file with the hotlist agreements between agencies (default "
                        "$ALPR_GOV_DB_PATH or .run/governance.db): loaded at submission, reloaded by the "
                        "operators every hotlist_refresh_s where they can read it")
    p.add_argument("--alerts-delivery", choices=DELIVERY, default=DEFAULT_DELIVERY,
                   help="exactly-once (default): transactional KafkaSink, visible to read_committed consumers "
                        "at each checkpoint; at-least-once: alerts at once, consumers dedupe on alert_id")
    p.add_argument("--checkpoint-interval-ms", type=int, default=2000)
    p.add_argument("--checkpoint-dir", help="file:// or s3:// URI (default: the cluster's execution.checkpointing.dir)")
    p.add_argument("--state-backend", choices=("rocksdb", "forst", "hashmap"), default="rocksdb")
    p.add_argument("--batch-delay-ms", type=int, default=20, help="longest wait for a recognition batch to fill")
    p.add_argument("--shards", type=int, default=None, help="recognition shards (default 4 x parallelism)")
    p.add_argument("--out-of-orderness-ms", type=int, default=1000)
    p.add_argument("--idleness-ms", type=int, default=5000, help="a partition this quiet stops holding the watermark")
    p.add_argument("--starting-offsets", choices=STARTING_OFFSETS, default="committed")
    p.add_argument("--health-topic", default="", help="per-camera health records (empty: off)")
    p.add_argument("--jars", default="", help="':'-separated jar paths (default: from infra/ and the cache)")
    p.add_argument("--local", action="store_true", help="run in a local MiniCluster (tests, debugging)")
    return p.parse_args(argv)


def _settings(args):
    """The settings of ``alpr run --runner flink``: runner flink whatever the environment says, so
    that the Flink runner's defaults and checks apply (Kafka source and sinks), also where the job
    is started without ``alpr run`` (the Kubernetes operator's PythonDriver)."""
    from alpr.config import load_settings

    return load_settings(args.config, runner="flink")


def _java_watermarks(out_of_orderness_ms: int, idleness_ms: int):
    """Capture-time watermarks generated INSIDE the KafkaSource (per partition), with idleness."""
    from pyflink.common import WatermarkStrategy
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    dur = jvm.java.time.Duration
    j = (jvm.org.apache.flink.api.common.eventtime.WatermarkStrategy
         .forBoundedOutOfOrderness(dur.ofMillis(out_of_orderness_ms))
         .withTimestampAssigner(jvm.alpr.flink.CaptureTimeAssigner())
         .withIdleness(dur.ofMillis(idleness_ms)))
    return WatermarkStrategy(j)


def _security(kafka) -> dict:
    """SASL/SCRAM properties for KafkaSource/KafkaSink (the connector jar's shaded login module)."""
    from alpr.connectors.auth import kafka_java_properties

    return kafka_java_properties(kafka)


def _kafka_source(bootstrap: str, topic: str, group_id: str, starting: str, client_id: str,
                  security: Optional[dict] = None):
    from pyflink.datastream.connectors.kafka import KafkaOffsetResetStrategy, KafkaOffsetsInitializer, KafkaSource
    from pyflink.java_gateway import get_gateway

    offsets = {"earliest": KafkaOffsetsInitializer.earliest(), "latest": KafkaOffsetsInitializer.latest(),
               "committed": KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)}[starting]
    builder = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topics(topic).set_group_id(group_id)
               .set_starting_offsets(offsets)
               .set_property("client.id.prefix", client_id)
               .set_property("partition.discovery.interval.ms", "30000")
               .set_property("isolation.level", "read_committed"))
    for key, value in (security or {}).items():
        builder = builder.set_property(key, value)
    # the record (key, headers, value) as one byte[] envelope: infra/flink/java FrameRecordDeserializer
    builder._j_builder.setDeserializer(get_gateway().jvm.alpr.flink.FrameRecordDeserializer())
    return builder.build()


def _kafka_sink(bootstrap: str, topic: str, guarantee: str, txn_prefix: str, security: Optional[dict] = None,
                per_key_topic: bool = False):
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import KafkaSink
    from pyflink.java_gateway import get_gateway

    b = (KafkaSink.builder().set_bootstrap_servers(bootstrap)
         .set_property("compression.type", "lz4").set_property("linger.ms", "0")
         .set_property("max.request.size", "20000000"))
    for key, value in (security or {}).items():
        b = b.set_property(key, value)
    if guarantee == "exactly-once":
        b = (b.set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE).set_transactional_id_prefix(txn_prefix)
             .set_property("transaction.timeout.ms", "600000"))
    else:
        b = b.set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).set_property("enable.idempotence", "true")
    # key + headers from the Python side: infra/flink/java EnvelopeRecordSerializer
    b._j_builder.setRecordSerializer(get_gateway().jvm.alpr.flink.EnvelopeRecordSerializer(topic, per_key_topic))
    return b.build()


def _discard(ds, name: str):
    from pyflink.datastream.connectors.base import Sink
    from pyflink.java_gateway import get_gateway

    j = get_gateway().jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink()
    return ds.sink_to(Sink(j)).name(name).uid(name)


def configuration(args, settings, checkpoint_dir: Optional[str] = None):
    from pyflink.common import Configuration

    conf = Configuration()
    py = sys.executable  # the Flink job environment: the client runs in it (-pyclientexec)
    for k, v in {
        "python.executable": py, "python.client.executable": py,
        "python.fn-execution.bundle.time": "50", "python.fn-execution.bundle.size": "100",
        "pipeline.auto-watermark-interval": "50 ms", "pipeline.name": args.job_name,
        "state.backend.type": args.state_backend, "state.backend.incremental": "true",
        "execution.checkpointing.interval": f"{args.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.min-pause": f"{max(100, args.checkpoint_interval_ms // 4)} ms",
        "execution.checkpointing.timeout": "2 min",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.tolerable-failed-checkpoints": "3",
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": "30 s",
    }.items():
        conf.set_string(k, v)
    if checkpoint_dir:
        conf.set_string("execution.checkpointing.dir", checkpoint_dir)
    return conf


def build(env, settings, args, initial_entries=(), initial_agreements=(), agreements_db=None):
    """Attach the whole job to ``env``; returns the named streams (tests inspect the plan)."""
    from pyflink.common import Types

    from alpr.pipelines.flink import health, operators as op

    k = settings.kafka
    sec = _security(k)
    parallelism = env.get_parallelism()
    shards = args.shards or max(1, 4 * parallelism)
    frames_src = env.from_source(
        _kafka_source(k.bootstrap, k.frames_topic, k.group_id, args.starting_offsets, f"{args.job_name}-frames",
                      sec),
        _java_watermarks(args.out_of_orderness_ms, args.idleness_ms), "frames",
        type_info=op.BYTES).uid("src-frames")
    frames = (frames_src.process(op.ParseFrames(k.frames_topic), output_type=op.PICKLED)
              .name("parse-frames").uid("parse-frames"))

    recognized = (frames.key_by(op.ShardKey(shards), key_type=Types.INT())
                  .process(op.RecognizeBatches(settings, args.batch_delay_ms), output_type=op.PICKLED)
                  .name("recognize").uid("recognize"))
    reads = recognized.flat_map(op.Explode(), output_type=op.PICKLED).name("reads").uid("reads")

    from pyflink.common import WatermarkStrategy
    from pyflink.common.time import Duration

    hotlist_src = env.from_source(
        _kafka_source(k.bootstrap, k.hotlist_topic, f"{k.group_id}-hotlist-{args.job_name}", "earliest",
                      f"{args.job_name}-hotlist", sec),
        WatermarkStrategy.for_monotonous_timestamps().with_idleness(Duration.of_seconds(1)), "hotlist",
        type_info=op.BYTES).uid("src-hotlist")
    changes = hotlist_src.process(op.ParseHotlist(), output_type=op.PICKLED).name("parse-hotlist").uid("parse-hotlist")

    matched = (reads.key_by(op.CameraKey(), key_type=Types.STRING())
               .connect(changes.broadcast(op.HOTLIST_STATE))
               .process(op.GroupAndMatch(settings, initial_entries, initial_agreements, agreements_db),
                        output_type=op.PICKLED)
               .name("group-match").uid("group-match"))
    groups = matched.get_side_output(op.GROUPS_TAG)
    alerts = (matched.key_by(op.DedupeKey(), key_type=Types.STRING())
              .process(op.DedupeAlerts(settings.alert_dedupe_s), output_type=op.PICKLED)
              .name("dedupe").uid("dedupe"))

    dead = (frames.get_side_output(op.DEAD_TAG)
            .union(recognized.get_side_output(op.DEAD_TAG), changes.get_side_output(op.DEAD_TAG)))

    written = [
        recognized.map(op.WriteStore(settings, "reads"), output_type=Types.LONG()).name("store-reads").uid("store-reads"),
        groups.map(op.WriteStore(settings, "groups"), output_type=Types.LONG()).name("store-groups").uid("store-groups"),
        alerts.map(op.WriteStore(settings, "alerts"), output_type=Types.LONG()).name("store-alerts").uid("store-alerts"),
        dead.map(op.WriteStore(settings, "dead_letters"), output_type=Types.LONG()).name("store-dead").uid("store-dead"),
    ]
    _discard(written[0].union(*written[1:]), "stored")

    if settings.alerts_sink != "kafka":
        raise ValueError(f"the Flink job writes alerts to Kafka (alerts_sink=kafka), got {settings.alerts_sink!r}")
    (alerts.map(op.AlertMessage(), output_type=op.BYTES).name("alert-messages").uid("alert-messages")
     .sink_to(_kafka_sink(k.bootstrap, k.alerts_topic, args.alerts_delivery, f"{args.job_name}-alerts", sec))
     .name("kafka-alerts").uid("kafka-alerts"))
    if k.agency_alert_topics:  # each alert also to <alerts_topic>.<agency>, its agency's own topic
        (alerts.map(op.AlertMessage(), output_type=op.BYTES).name("agency-alert-messages").uid("agency-alert-messages")
         .sink_to(_kafka_sink(k.bootstrap, k.alerts_topic, args.alerts_delivery, f"{args.job_name}-agency-alerts",
                              sec, per_key_topic=True))
         .name("kafka-agency-alerts").uid("kafka-agency-alerts"))
    if settings.deadletter_sink == "kafka":  # dead letters always go to the store as well
        (dead.map(op.DeadLetterMessage(), output_type=op.BYTES).name("dead-messages").uid("dead-messages")
         .sink_to(_kafka_sink(k.bootstrap, k.deadletter_topic, "at-least-once", f"{args.job_name}-dead", sec))
         .name("kafka-dead").uid("kafka-dead"))
    if args.health_topic:
        (frames.map(health.FrameMeta(), output_type=op.PICKLED).name("frame-meta").uid("frame-meta")
         .key_by(op.CameraKey(), key_type=Types.STRING())
         .process(health.CameraHealth(), output_type=op.BYTES).name("camera-health").uid("camera-health")
         .sink_to(_kafka_sink(k.bootstrap, args.health_topic, "at-least-once", f"{args.job_name}-health", sec))
         .name("kafka-health").uid("kafka-health"))
    return {"frames": frames, "reads": reads, "groups": groups, "alerts": alerts, "dead": dead}


def make_env(args, settings):
    from pyflink.datastream import StreamExecutionEnvironment

    from alpr.pipelines.flink.locate import flink_paths

    env = StreamExecutionEnvironment.get_execution_environment(configuration(args, settings, args.checkpoint_dir))
    jars = [j for j in args.jars.split(":") if j] or [str(p) for p in flink_paths().check().jars]
    env.add_jars(*[j if j.startswith("file://") else f"file://{j}" for j in jars])
    if args.parallelism:
        env.set_parallelism(args.parallelism)
    env.set_max_parallelism(args.max_parallelism)
    return env


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    settings = _settings(args)
    entries = ()
    if args.hotlist:
        from alpr.connectors.hotlists import load_run_list

        try:
            report = load_run_list(args.hotlist, args.hotlist_list)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
        if report.rejected:  # line numbers only: a reason may quote a plate, and logs hold no plates
            logging.getLogger(__name__).warning("hotlist %s: %d row(s) rejected, lines %s", args.hotlist,
                                                len(report.rejected), [r.line_no for r in report.rejected][:50])
        entries = tuple(report.entries)
    from alpr.governance.agreement_feed import governance_db_path, load_grants

    gov_db = os.path.abspath(args.governance_db or governance_db_path())
    env = make_env(args, settings)
    build(env, settings, args, entries, tuple(load_grants(gov_db)), gov_db)
    if args.local:
        env.execute(args.job_name)
    else:
        client = env.execute_async(args.job_name)
        print(f"JOB_ID={client.get_job_id()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
