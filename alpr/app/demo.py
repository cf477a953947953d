"""``make demo`` / ``alpr demo``: the main job on the embedded default, with no servers.

Generates a synthetic camera clip (``vehicles`` cars passing one camera), puts ``on_hotlist``
of their plates on hotlists (one exact NCIC stolen-vehicle entry, then agency partial-plate
entries with ``*`` wildcards, as policy 461.3(c) asks for major crimes), runs the Beam
pipeline on the DirectRunner with in-process ONNX inference into an embedded SQLite store,
prints the reads and alerts, and ends with a one-line summary.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from alpr.config import load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.stores import open_store
from alpr.records import HotlistEntry, stable_id

DEMO_CAMERA = "cam-demo-1"
DEMO_AGENCY = "DHSPD"


def partial_pattern(plate: str) -> str:
    """A witness's partial plate: two characters unknown (each ``*`` one character)."""
    chars = list(plate)
    for i in (1, len(plate) - 2):
        chars[i] = "*"
    return "".join(chars)


def demo_hotlist(plates: list[str], now: float) -> list[HotlistEntry]:
    entries = []
    for i, plate in enumerate(plates):
        if i % 2 == 0:
            entries.append(HotlistEntry(
                entry_id=stable_id("demo", plate), plate=plate, list_code="V", list_name="Stolen Vehicle",
                state="CA", priority=10, description="NCIC stolen vehicle (demo)", source="ncic",
                match_strategy="lenient", created_ts=now))
        else:
            entries.append(HotlistEntry(
                entry_id=stable_id("demo", plate), plate=partial_pattern(plate), list_code="AGENCY",
                list_name="Major crime partial plates", priority=5,
                description="Partial plate from witness, armed robbery (demo)",
                case_number=f"DHS-26-{1000 + i}", expires_at=now + 30 * 86400, source="agency",
                agency=DEMO_AGENCY, created_ts=now))
    return entries


def run_demo(out_dir: Path, vehicles: int = 6, on_hotlist: int = 2, seed: int = 7) -> int:
    from alpr.app.live import frames_factory
    from alpr.app.report import write_report
    from alpr.pipelines.graph import run

    if vehicles < 1 or not 0 <= on_hotlist <= vehicles:
        raise ValueError("need vehicles >= 1 and 0 <= hits <= vehicles")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    settings = load_settings(
        source=f"synthetic:{vehicles}", camera_id=DEMO_CAMERA, agency=DEMO_AGENCY, seed=seed,
        store=f"sqlite:{out_dir / 'alpr.db'}", alerts_sink=f"jsonl:{out_dir / 'alerts.jsonl'}",
        runner="direct", inference="onnx", print_results=True)  # the demo's console output shows its plates
    start_ts = time.time()  # the synthetic camera is live: its clip starts now
    camera = SyntheticCamera(DEMO_CAMERA, DEMO_AGENCY, n_vehicles=vehicles, seed=seed, start_ts=start_ts)
    plates = [v.plate for v in camera.vehicles]
    wanted = plates[:: max(1, vehicles // max(on_hotlist, 1))][:on_hotlist] if on_hotlist else []
    entries = demo_hotlist(wanted, time.time())
    store = open_store(settings.store)
    store.upsert_entries(entries)
    store.close()
    (out_dir / "hotlist.json").write_text(json.dumps([e.to_dict() for e in entries], indent=1))
    print(f"demo: {vehicles} synthetic vehicles at {DEMO_CAMERA}, {camera.n_frames} frames: {', '.join(plates)}")
    for e in entries:
        print(f"demo: hotlist {e.list_code:<6} {e.plate:<9} {e.description}")
    print("demo: running the pipeline (Beam DirectRunner, in-process ONNX, SQLite); "
          "groups and alerts print as each vehicle leaves the view", flush=True)
    frames, close = frames_factory(settings, what="demo frames", start_ts=start_ts)
    try:
        summary = run(settings, frames=frames)
    finally:
        close()
    print(f"demo: reads and groups in {out_dir / 'alpr.db'}, alerts in {out_dir / 'alerts.jsonl'}")
    store = open_store(settings.store)
    try:
        counts = {"vehicles (ground truth)": vehicles, "frames": summary.counters.get("frames_in", 0),
                  "reads": summary.counters.get("reads", 0), "plate groups": summary.counters.get("plate_groups", 0),
                  "alerts": summary.counters.get("alerts", 0), "dead letters": summary.dead_letters,
                  "seconds": round(summary.seconds, 1)}
        report = write_report(out_dir / "report.html", store, f"alpr demo: {DEMO_CAMERA}", counts,
                              lambda seq: camera.render(seq) if 0 <= seq < camera.n_frames else None,
                              camera_id=DEMO_CAMERA)
    finally:
        store.close()
    print(f"demo: report {report}")
    print(summary.line())
    return 0
