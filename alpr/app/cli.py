"""``alpr``: the command-line tool.

``alpr read``       recognise plates in image files (in the spirit of OpenALPR's ``alpr``)
``alpr demo``       run the main job on the embedded default (what ``make demo`` runs)
``alpr run``        run the pipeline with a config file / ``ALPR_*`` environment
``alpr synth``      write a synthetic camera clip (frames + ground truth) to a folder
``alpr hotlist``    import hotlists and match plates against them
``alpr alerts``     follow the alerts topic (logged in: your agency's alerts)
``alpr serve`` / ``alpr audit`` / ``alpr evidence`` / ``alpr users``  governance (policy 461)
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

log = logging.getLogger("alpr")


# --------------------------------------------------------------------------- alpr read
def plate_json(p) -> dict:
    return {
        "plate": p.plate,
        "confidence": round(float(p.confidence), 2),
        "coordinates": [{"x": int(round(x)), "y": int(round(y))} for x, y in p.coordinates],
        "candidates": [{"plate": c.plate, "confidence": round(float(c.confidence), 2)} for c in p.candidates],
        "region": getattr(p, "region", ""),
        "region_confidence": round(float(getattr(p, "region_confidence", 0.0)), 1),
        "detector": getattr(p, "detector", ""),
        "recognizer": getattr(p, "recognizer", ""),
    }


def cmd_read(args) -> int:
    from alpr.inference.recognizer import FrameDecodeError, PlateRecognizer, decode_image

    try:
        recognizer = PlateRecognizer(topn=args.topn, country=getattr(args, "country", "auto"),
                                     state=getattr(args, "state", None))
    except ValueError as exc:
        print(f"alpr read: {exc}", file=sys.stderr)
        return 2
    status = 0
    annotate_dir = Path(args.annotate) if args.annotate else None
    used: set = set()
    for path in args.images:
        try:
            data = Path(path).read_bytes()
            image = decode_image(data)
        except (OSError, FrameDecodeError) as exc:
            print(f"alpr read: {path}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}",
                  file=sys.stderr)
            status = 1
            continue
        t0 = time.perf_counter()
        plates = recognizer.recognize(image)
        ms = (time.perf_counter() - t0) * 1000
        h, w = image.shape[:2]
        if annotate_dir is not None:
            from alpr.app.annotate import write_annotated

            written = write_annotated(annotate_dir, path, image, plates, used)
            if not args.json:
                print(f"annotated: {written}", file=sys.stderr)
        if args.json:
            print(json.dumps({"version": 2, "data_type": "alpr_results", "file": str(path),
                              "epoch_time": int(time.time() * 1000), "img_width": w, "img_height": h,
                              "processing_time_ms": round(ms, 1),
                              "results": [plate_json(p) for p in plates]}), flush=True)
        else:
            print(f"{path}: {len(plates)} plate(s) found ({w}x{h}, {ms:.0f} ms)")
            for i, p in enumerate(plates):
                print(f"  plate{i}: {p.plate}\tconfidence: {p.confidence:.1f}")
                for c in p.candidates[: args.topn]:
                    print(f"    - {c.plate}\t confidence: {c.confidence:.1f}")
    return status


# --------------------------------------------------------------------------- alpr run / demo
def _settings(args, **overrides):
    from alpr.config import load_settings

    return load_settings(getattr(args, "config", None), **overrides)


def cmd_run(args) -> int:
    from alpr.pipelines.graph import run

    overrides = {k: getattr(args, k) for k in ("source", "store", "inference", "runner", "country", "state")
                 if getattr(args, k, None)}
    if getattr(args, "debug", False):
        overrides["debug_plates"] = True  # --debug: plates in stdout/logs (never by default)
    settings = _settings(args, **overrides)
    entries = None
    if args.hotlist:
        entries = _load_hotlist_file(args.hotlist, args.hotlist_list)
    if settings.runner == "flink":  # the long-running streaming job, submitted to the Flink cluster
        from alpr.pipelines.flink.options import JobOptions
        from alpr.pipelines.flink.submit import run_flink

        return run_flink(settings, hotlist=args.hotlist, hotlist_list=args.hotlist_list, follow=args.follow,
                         options=JobOptions.from_args(args))
    _refuse_flink_options(args)
    _preflight(settings)
    # Beam (runner direct): one bounded run; a Kafka source is read up to its current end, then
    # committed. The long-running streaming job is the Flink one (runner flink, alpr.pipelines.flink).
    from alpr.app.live import frames_factory

    frames, close = frames_factory(settings)  # opens the source now: a missing one fails here
    try:
        print(run(settings, hotlist_entries=entries, frames=frames).line())
    finally:
        close()
    return 0


FLINK_OPTIONS = ("alerts_delivery", "checkpoint_dir", "health_topic", "starting_offsets", "from_savepoint",
                 "allow_non_restored_state")


def _refuse_flink_options(args) -> None:
    """A Flink job option on the direct runner would be ignored: say so instead."""
    given = [f"--{name.replace('_', '-')}" for name in FLINK_OPTIONS if getattr(args, name, None)]
    if given:
        raise ValueError(f"{', '.join(given)}: options of the Flink job, for --runner flink only")


def _add_flink_options(p: argparse.ArgumentParser) -> None:
    """``alpr run``'s options of the Flink job (``--runner flink``); unset: the job's defaults."""
    from alpr.pipelines.flink.options import DEFAULT_DELIVERY, DELIVERY, STARTING_OFFSETS

    g = p.add_argument_group("Flink job (--runner flink)")
    g.add_argument("--alerts-delivery", choices=DELIVERY,
                   help=f"alerts to Kafka: {DEFAULT_DELIVERY} (default; transactional KafkaSink, consumers read "
                        "with isolation.level=read_committed) or at-least-once (at once; consumers dedupe on alert_id)")
    g.add_argument("--checkpoint-dir", metavar="URI",
                   help="checkpoint directory: file:///path, s3://bucket/path, or a local path (default: the "
                        "cluster's execution.checkpointing.dir)")
    g.add_argument("--health-topic", metavar="TOPIC", help="per-camera health records to this topic (default: off)")
    g.add_argument("--starting-offsets", choices=STARTING_OFFSETS,
                   help="where the frames source starts without restored state (default: committed)")
    g.add_argument("--from-savepoint", metavar="PATH",
                   help="restore the job's state from this savepoint (flink run -s PATH): the upgrade path")
    g.add_argument("--allow-non-restored-state", action="store_true",
                   help="with --from-savepoint: skip savepoint state that maps to no operator of the new job")


def _preflight(settings) -> None:
    from alpr.app import preflight, quiet

    preflight.check(settings)
    quiet.restore_beam_resource()


def _load_hotlist_file(path: str, list_code: str):
    from alpr.connectors.hotlists import load_run_list

    report = load_run_list(path, list_code)
    for rej in report.rejected:
        print(f"hotlist {path}:{rej.line_no}: rejected: {rej.reason}", file=sys.stderr)
    return report.entries


def cmd_demo(args) -> int:
    from alpr.app.demo import run_demo
    from alpr.app.quiet import restore_beam_resource

    restore_beam_resource()

    return run_demo(out_dir=Path(args.out), vehicles=args.vehicles, on_hotlist=args.hits, seed=args.seed)


def cmd_synth(args) -> int:
    from alpr.connectors.camera.synthetic import SyntheticCamera, write_clip

    cam = SyntheticCamera(args.camera, args.agency, n_vehicles=args.vehicles, seed=args.seed, fps=args.fps,
                          width=args.width, height=args.height)
    out = write_clip(Path(args.out), cam)
    print(f"wrote {out}")
    return 0


# --------------------------------------------------------------------------- wiring
def _optional_register(module: str, sub) -> None:
    """Subcommand groups owned by other packages register themselves if present."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("alpr"):
            return
        raise
    mod.register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alpr", description="alpr-stream: real-time ALPR analytics engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true",
                        help="debug logging, and the full traceback when a command fails")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("read", help="recognise plates in image files")
    p.add_argument("--json", action="store_true", help="one JSON object per image, one per line")
    p.add_argument("-n", "--topn", type=int, default=10, help="number of candidates per plate (default 10)")
    p.add_argument("--annotate", metavar="DIR",
                   help="also write each image with its plate boxes, texts and confidences to DIR")
    p.add_argument("-c", "--country", default="auto",
                   help="plate country: us (US state formats as priors), auto (default: US decoding "
                        "unless the plate looks foreign), or any other code for generic decoding")
    p.add_argument("-p", "--state", help="US state hint, e.g. ca (implies --country us)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=cmd_read)

    p = sub.add_parser("demo", help="run the main job on the embedded default with generated input")
    p.add_argument("--out", default=".run/demo", help="output folder (store, alerts, hotlist)")
    p.add_argument("--vehicles", type=int, default=6)
    p.add_argument("--hits", type=int, default=2, help="how many of the vehicles are on the hotlist")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run the pipeline with a config file and ALPR_* environment")
    p.add_argument("-c", "--config", help="YAML settings file")
    p.add_argument("--source", help="synthetic:N | folder | video file | kafka")
    p.add_argument("--store", help="sqlite:PATH | cassandra://host:port/keyspace")
    p.add_argument("--inference", help="onnx | triton://host:port | triton+frames://host:port")
    p.add_argument("--runner", choices=["direct", "flink"])
    p.add_argument("--country", help="recogniser country hint: auto | us | eu ... (setting country)")
    p.add_argument("--state", help="US state hint for every camera, e.g. CA (setting state)")
    p.add_argument("--hotlist", help="hotlist file to match against (side input)")
    p.add_argument("--hotlist-list", default="HOT", help="list code for --hotlist rows that carry none")
    p.add_argument("--follow", action="store_true",
                   help="runner flink: stay attached, exit when the job ends (non-zero unless it FINISHED)")
    _add_flink_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("synth", help="write a synthetic camera clip with ground truth")
    p.add_argument("out")
    p.add_argument("--camera", default="cam-synth")
    p.add_argument("--agency", default="DHSPD")
    p.add_argument("--vehicles", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps", type=float, default=5.0)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.set_defaults(func=cmd_synth)

    for module in ("alpr.app.hotlist_cli", "alpr.governance.cli_alerts", "alpr.connectors.kafka_cli",
                   "alpr.governance.cli", "alpr.governance.cli_agreements", "alpr.observability.cli"):
        _optional_register(module, sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from alpr.app.errors import configure_logging, describe

    debug = bool(args.debug or args.verbose)
    configure_logging(debug)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure ends in one line (and --debug's traceback)
        if args.debug:
            import traceback

            traceback.print_exc()
        message, status = describe(exc)
        hint = "" if args.debug or status == 2 else " (run with --debug for the traceback)"
        print(f"alpr {args.command}: error: {message}{hint}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
