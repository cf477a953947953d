"""An HTML report of one run: its alerts with the frame crop of the plate, its plate groups and counts.

Written by ``alpr demo`` (``.run/demo/report.html``). Self-contained: crops are embedded as
base64 JPEG, so the file can be mailed or archived as it is. Plates shown here are the run's own
(synthetic in the demo); the report is an output file, never a log.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

import cv2
import numpy as np

from alpr.records import Alert, PlateGroup, PlateRead

FrameImage = Callable[[int], Optional[np.ndarray]]  # frame seq -> BGR image (None if unavailable)


def plate_crop(image: np.ndarray, coordinates, margin: float = 0.6) -> np.ndarray:
    """The plate's box with ``margin`` (times the plate height) of context, clipped to the image."""
    pts = np.asarray(coordinates, dtype=np.float32).reshape(-1, 2)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    m = margin * max(y1 - y0, 8.0)
    h, w = image.shape[:2]
    xa, ya = int(max(0, x0 - 2 * m)), int(max(0, y0 - m))
    xb, yb = int(min(w, x1 + 2 * m)), int(min(h, y1 + m))
    crop = image[ya:yb, xa:xb].copy()
    cv2.polylines(crop, [np.round(pts - [xa, ya]).astype(np.int32)], True, (0, 0, 255), 2)
    return crop


def _img_tag(image: Optional[np.ndarray], alt: str) -> str:
    if image is None or not image.size:
        return "<em>frame not available</em>"
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:  # pragma: no cover
        return "<em>frame not encodable</em>"
    return f'<img alt="{html.escape(alt)}" src="data:image/jpeg;base64,{base64.b64encode(buf).decode()}">'


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def render(title: str, counts: dict, alerts: Iterable[Alert], groups: Iterable[PlateGroup],
           reads_by_id: dict[str, PlateRead], frame_image: FrameImage) -> str:
    alerts, groups = list(alerts), sorted(groups, key=lambda g: g.epoch_start)
    groups_by_id = {g.group_id: g for g in groups}
    e = html.escape
    rows = []
    for a in sorted(alerts, key=lambda a: a.capture_ts):
        g = groups_by_id.get(a.group_id)
        read = reads_by_id.get(g.best_read_id) if g else None
        crop = None
        if read is not None:
            image = frame_image(read.seq)
            crop = plate_crop(image, read.coordinates) if image is not None else None
        rows.append(
            f"<tr><td>{_img_tag(crop, a.read_plate)}</td><td><b>{e(a.read_plate)}</b> &rarr; {e(a.entry_plate)}</td>"
            f"<td>{e(a.list_code)} {e(a.list_name)}</td><td>{e(a.match_type)} (distance {a.distance})</td>"
            f"<td>{a.confidence:.1f}%</td><td>{e(a.case_number or '-')}</td><td>{e(a.description)}</td>"
            f"<td>{e(a.camera_id)}<br>{_ts(a.capture_ts)}"
            f"{f'<br>frames {g.frame_start}-{g.frame_end}' if g else ''}</td></tr>")
    grows = "".join(
        f"<tr><td>{e(g.camera_id)}</td><td>{g.frame_start}-{g.frame_end}</td><td><b>{e(g.best_plate)}</b></td>"
        f"<td>{g.best_confidence:.1f}%</td><td>{g.num_reads}</td>"
        f"<td>{e(', '.join(f'{c.plate} {c.confidence:.0f}' for c in g.candidates[:4]))}</td></tr>" for g in groups)
    crows = "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in counts.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:middle}}th{{background:#eee}}img{{max-height:120px}}</style>
</head><body><h1>{e(title)}</h1>
<h2>Counts</h2><table>{crows}</table>
<h2>Alerts ({len(alerts)})</h2>
<table><tr><th>plate crop</th><th>read &rarr; entry</th><th>list</th><th>match</th><th>confidence</th>
<th>case</th><th>description</th><th>camera, time</th></tr>{''.join(rows) or '<tr><td colspan=8>none</td></tr>'}</table>
<h2>Plate groups ({len(groups)})</h2>
<table><tr><th>camera</th><th>frames</th><th>best plate</th><th>confidence</th><th>reads</th><th>candidates</th></tr>
{grows or '<tr><td colspan=6>none</td></tr>'}</table>
</body></html>
"""


def write_report(path: Path, store, title: str, counts: dict, frame_image: FrameImage,
                 camera_id: Optional[str] = None) -> Path:
    """Read the run's alerts, groups and their best reads from ``store`` and write the report."""
    from alpr.connectors.stores.base import ReadQuery

    groups = store.get_groups(camera_id=camera_id)
    alerts = [a for a in store.get_alerts() if camera_id is None or a.camera_id == camera_id]
    reads = store.search_reads(ReadQuery(camera_id=camera_id, limit=1_000_000))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(title, counts, alerts, groups, {r.read_id: r for r in reads}, frame_image))
    return path
