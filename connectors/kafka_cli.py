"""``alpr alerts tail`` and ``alpr gateway``: Kafka command-line tools."""

from __future__ import annotations

import json
import sys


def cmd_alerts_tail(args) -> int:
    from alpr.connectors.kafka import consume
    from alpr.records import Alert, SchemaError

    n = 0
    for msg in consume(args.bootstrap, args.topic, from_beginning=args.from_beginning,
                       max_messages=args.max, idle_timeout_s=args.idle_timeout):
        try:
            alert = Alert.from_json(msg.value())
        except SchemaError as exc:
            print(f"alerts tail: offset {msg.offset()}: unreadable alert: {exc}", file=sys.stderr)
            continue
        n += 1
        if args.json:
            print(alert.to_json(), flush=True)
        else:
            print(f"{alert.agency} {alert.camera_id} {alert.read_plate} -> {alert.entry_plate} "
                  f"[{alert.list_code} {alert.match_type} d={alert.distance}] {alert.description}", flush=True)
    return 0


def cmd_gateway(args) -> int:
    from alpr.connectors.camera.sources import open_source
    from alpr.connectors.kafka import CameraGateway, stream_rtsp

    gw = CameraGateway(args.bootstrap, args.topic)
    if args.source.startswith("rtsp://"):
        frames = stream_rtsp(args.source, args.camera, args.agency, max_frames=args.max_frames)
    else:
        frames = open_source(args.source, camera_id=args.camera, agency=args.agency)
    n = gw.publish(frames)
    print(json.dumps({"published": n, "topic": args.topic}))
    return 0


def register(sub) -> None:
    from alpr.config import KafkaConfig

    d = KafkaConfig()
    p = sub.add_parser("alerts", help="follow the alerts topic")
    asub = p.add_subparsers(dest="alerts_command", required=True)
    t = asub.add_parser("tail", help="consume and print alerts")
    t.add_argument("--bootstrap", default=d.bootstrap)
    t.add_argument("--topic", default=d.alerts_topic)
    t.add_argument("--json", action="store_true")
    t.add_argument("--from-beginning", action="store_true")
    t.add_argument("--max", type=int, default=None, help="stop after this many alerts")
    t.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    t.set_defaults(func=cmd_alerts_tail)

    g = sub.add_parser("gateway", help="publish camera frames to the frames topic")
    g.add_argument("source", help="synthetic:N | image folder | video file | rtsp://...")
    g.add_argument("--camera", required=True)
    g.add_argument("--agency", required=True)
    g.add_argument("--bootstrap", default=d.bootstrap)
    g.add_argument("--topic", default=d.frames_topic)
    g.add_argument("--max-frames", type=int, default=None)
    g.set_defaults(func=cmd_gateway)
