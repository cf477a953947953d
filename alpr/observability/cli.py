"""``alpr metrics``: serve this process's Prometheus registry, list the metric catalogue.

``alpr metrics serve --port 18121``   standalone ``/metrics`` (e.g. beside a camera gateway,
                                      with ``--expected-cameras`` for ``alpr_camera_offline``)
``alpr metrics list``                 every ``alpr_*`` metric with its type and help
``alpr metrics check [ROOT]``         every ``alpr_*`` metric in the dashboards/rules is exported, and
                                      every ``flink_*`` one is the Flink job's or Flink's own
"""

from __future__ import annotations

import argparse
import time


def cmd_serve(args) -> int:
    from . import metrics
    from .server import start_metrics_server

    if args.expected_cameras:
        cams = [c.strip() for c in args.expected_cameras.split(",") if c.strip()]
        metrics.set_expected_cameras(cams, offline_after_s=args.offline_after)
    else:
        metrics.expected_cameras_from_env()
    server = start_metrics_server(args.port, addr=args.addr)
    print(f"alpr metrics: serving {server.url}", flush=True)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2 if deadline is not None else 1.0)
    finally:
        server.stop()
    return 0


def cmd_list(args) -> int:
    from prometheus_client import REGISTRY

    from . import metrics  # noqa: F401  (defines the families)

    for fam in sorted(REGISTRY.collect(), key=lambda f: f.name):
        if fam.name.startswith("alpr_"):
            suffix = "_total" if fam.type == "counter" else ""
            print(f"{fam.name}{suffix}\t{fam.type}\t{fam.documentation}")
    return 0


def cmd_check(args) -> int:
    from . import catalog, flink_metrics, metrics  # noqa: F401

    dashboards, rules = catalog.repo_files(args.root)
    if not dashboards or not rules:
        print(f"alpr metrics check: no dashboards/rules under {args.root}/infra", flush=True)
        return 1
    refs = catalog.references(dashboards, rules)
    exposed = catalog.exposed_names()
    problems = catalog.unknown_references(refs, exposed) + catalog.unknown_grouping(refs, exposed)
    # the Flink job's series: its alpr group (read from pipelines/flink) and Flink's own
    problems += flink_metrics.unknown_references(refs, flink_metrics.job_metric_names(args.root))
    for p in problems:
        print(p)
    used = sorted({r.metric for r in refs if r.metric.startswith("alpr_")})
    flink = sorted({r.metric for r in refs if r.metric.startswith("flink_")})
    print(f"{len(used)} alpr_* and {len(flink)} flink_* series in {len(dashboards)} dashboards and "
          f"{len(rules)} rule files; {len(problems)} problem(s)")
    return 1 if problems else 0


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from exc
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {value}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser("metrics", help="Prometheus metrics: serve /metrics, list the catalogue")
    sub = p.add_subparsers(dest="metrics_command", required=True)

    s = sub.add_parser("serve", help="serve this process's /metrics until interrupted")
    s.add_argument("--port", type=_port, required=True, help="TCP port (0 = any free port)")
    s.add_argument("--addr", default="0.0.0.0", help="bind address (default 0.0.0.0)")
    s.add_argument("--expected-cameras", default="",
                   help="comma-separated camera ids that must be sending (default: $ALPR_EXPECTED_CAMERAS)")
    s.add_argument("--offline-after", type=float, default=300.0,
                   help="seconds without a frame before an expected camera counts as offline")
    s.add_argument("--duration", type=float, default=None, help="stop after this many seconds (tests)")
    s.set_defaults(func=cmd_serve)

    ls = sub.add_parser("list", help="list every alpr_* metric with its type and help")
    ls.set_defaults(func=cmd_list)

    c = sub.add_parser("check", help="check the dashboards' and rules' PromQL against the exported metrics")
    c.add_argument("root", nargs="?", default=".", help="repository root (default: .)")
    c.set_defaults(func=cmd_check)
