"""Kafka command-line tools: ``alpr gateway``, and :func:`tail_alerts`, the consumer loop behind
``alpr alerts tail`` (registered by :mod:`alpr.governance.cli_alerts`, which logs the user in,
keeps the alerts of the user's agency only and logs the access)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Callable, Optional

from alpr.backoff import Backoff, StateLog
from alpr.records import Alert

log = logging.getLogger("alpr.alerts")
_RDKAFKA_LOG = logging.getLogger("alpr.kafka.librdkafka")  # librdkafka's per-attempt lines: DEBUG only
_RDKAFKA_LOG.setLevel(logging.CRITICAL)


class KafkaUnreachable(ConnectionError):
    """Kafka did not answer within the connect timeout."""


def _tail_consumer(bootstrap: str, topic: str, from_beginning: bool, connect_timeout_s: float, states,
                   subscribe: bool = True):
    """A consumer of ``topic`` once Kafka answers (retried with backoff + jitter until
    ``connect_timeout_s``); broker state changes are reported once each through ``states``."""
    from confluent_kafka import Consumer, KafkaError, KafkaException

    def on_error(err) -> None:  # librdkafka's own reconnects back off (reconnect.backoff.*, jittered)
        if states.state == "up" and err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            states.update("down", f"alerts tail: Kafka at {bootstrap} unreachable ({err.str()}); "
                                  "retrying with backoff")

    from alpr.connectors.auth import kafka_client_config

    consumer = Consumer(kafka_client_config(bootstrap, None, **{  # credentials: ALPR_KAFKA__SASL_*
        "group.id": f"alpr-tail-{time.time_ns()}", "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False, "error_cb": on_error, "logger": _RDKAFKA_LOG,
        "reconnect.backoff.ms": 500, "reconnect.backoff.max.ms": 30000}))
    backoff, deadline = Backoff(base_s=0.5, cap_s=5.0), time.monotonic() + connect_timeout_s
    while True:
        try:
            consumer.list_topics(topic if subscribe else None, timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            break
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                consumer.close()
                raise KafkaUnreachable(
                    f"cannot reach Kafka at {bootstrap} within {connect_timeout_s:g}s ({exc.args[0].str()}); "
                    "start it (make services-up) or pass --bootstrap HOST:PORT") from exc
            time.sleep(min(backoff.next_delay(), max(0.0, deadline - time.monotonic())))
    if subscribe:
        consumer.subscribe([topic])
    return consumer


def wait_for_kafka(bootstrap: str, timeout_s: float) -> None:
    """Return once Kafka at ``bootstrap`` answers; :class:`KafkaUnreachable` after ``timeout_s``
    (retried with backoff + jitter, librdkafka's per-attempt lines kept quiet)."""
    consumer = _tail_consumer(bootstrap, "", False, timeout_s, StateLog(log, initial="connecting"),
                              subscribe=False)
    consumer.close()


def tail_alerts(bootstrap: str, topic: str, *, accept: Callable[[Alert], bool], emit: Callable[[Alert], None],
                from_beginning: bool = False, connect_timeout: float = 15.0, max_alerts: Optional[int] = None,
                idle_timeout: Optional[float] = None) -> int:
    """Follow ``topic``; each readable alert that ``accept`` keeps goes to ``emit`` (the caller
    decides who may see what). Stops after ``max_alerts`` emitted or ``idle_timeout`` idle seconds;
    returns how many were emitted. :class:`KafkaUnreachable` if Kafka never answers."""
    from alpr.records import SchemaError

    states = StateLog(log, initial="connecting")  # the first connection is reported by the error below
    consumer = _tail_consumer(bootstrap, topic, from_beginning, connect_timeout, states)
    states.update("up", f"alerts tail: following {topic} on {bootstrap}", logging.INFO)
    n, last = 0, time.monotonic()
    try:
        while max_alerts is None or n < max_alerts:
            msg = consumer.poll(0.5)
            if msg is None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    break
                continue
            if msg.error():
                states.update("error:" + str(msg.error().code()), f"alerts tail: {msg.error()}")
                continue
            if states.state != "up":
                states.update("up", f"alerts tail: Kafka at {bootstrap} reachable again", logging.WARNING)
            last = time.monotonic()
            try:
                alert = Alert.from_json(msg.value())
            except SchemaError as exc:
                print(f"alerts tail: offset {msg.offset()}: unreadable alert: {exc}", file=sys.stderr)
                continue
            if accept(alert):
                n += 1
                emit(alert)
    finally:
        consumer.close()
    return n


def alert_line(alert: Alert) -> str:
    return (f"{alert.agency} {alert.camera_id} {alert.read_plate} -> {alert.entry_plate} "
            f"[{alert.list_code} {alert.match_type} d={alert.distance}] {alert.description}")


def cmd_gateway(args) -> int:
    from alpr.connectors.camera.sources import open_source
    from alpr.connectors.kafka_gateway import CameraGateway, stream_rtsp

    wait_for_kafka(args.bootstrap, args.connect_timeout)  # one clear line instead of librdkafka's retries
    gw = CameraGateway(args.bootstrap, args.topic)
    if args.source.startswith("rtsp://"):
        frames = stream_rtsp(args.source, args.camera, args.agency, max_frames=args.max_frames)
    else:
        frames = open_source(args.source, camera_id=args.camera, agency=args.agency)
    n = gw.publish(frames)
    print(json.dumps({"published": n, "topic": args.topic}))
    return 0


def register_tail_options(t) -> None:
    """The Kafka options of ``alpr alerts tail`` (its parser is built by the governance layer)."""
    from alpr.config import KafkaConfig

    d = KafkaConfig()
    t.add_argument("--bootstrap", default=d.bootstrap)
    t.add_argument("--topic", default=d.alerts_topic)
    t.add_argument("--json", action="store_true")
    t.add_argument("--from-beginning", action="store_true")
    t.add_argument("--max", type=int, default=None, help="stop after this many alerts")
    t.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    t.add_argument("--connect-timeout", type=float, default=15.0,
                   help="give up (exit 2) if Kafka does not answer within this many seconds (default 15)")


def register(sub) -> None:
    from alpr.config import KafkaConfig

    d = KafkaConfig()
    g = sub.add_parser("gateway", help="publish camera frames to the frames topic")
    g.add_argument("source", help="synthetic:N | image folder | video file | rtsp://...")
    g.add_argument("--camera", required=True)
    g.add_argument("--agency", required=True)
    g.add_argument("--bootstrap", default=d.bootstrap)
    g.add_argument("--topic", default=d.frames_topic)
    g.add_argument("--max-frames", type=int, default=None)
    g.add_argument("--connect-timeout", type=float, default=15.0,
                   help="give up (exit 2) if Kafka does not answer within this many seconds (default 15)")
    g.set_defaults(func=cmd_gateway)
