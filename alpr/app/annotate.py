"""``alpr read --annotate DIR``: each image with its plate boxes, texts and confidences drawn on it,
so a reader sees which box was read as which plate (and which road sign was taken for one)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

GREEN, AMBER, RED = (40, 170, 40), (0, 170, 255), (40, 40, 220)


def colour(confidence: float) -> tuple[int, int, int]:
    return GREEN if confidence >= 90 else AMBER if confidence >= 80 else RED


def annotate(image: np.ndarray, plates: Sequence) -> np.ndarray:
    """A copy of ``image`` (BGR) with each plate's quadrilateral and ``PLATE 97.1%`` above it.
    ``plates`` are recognizer results (``plate``, ``confidence``, ``coordinates``)."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.5, min(2.0, w / 1280))
    thick = max(1, int(round(2 * scale)))
    for p in plates:
        pts = np.round(np.asarray(p.coordinates, dtype=np.float32).reshape(-1, 2)).astype(np.int32)
        c = colour(float(p.confidence))
        cv2.polylines(out, [pts], True, c, thick + 1)
        label = f"{p.plate} {float(p.confidence):.1f}%"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, thick)
        x = int(min(max(0, pts[:, 0].min()), max(0, w - tw - 4)))
        y = int(pts[:, 1].min()) - 6
        if y - th - base < 0:  # no room above: below the box
            y = min(h - 2, int(pts[:, 1].max()) + th + 8)
        cv2.rectangle(out, (x, y - th - base), (x + tw + 4, y + base // 2), c, -1)
        cv2.putText(out, label, (x + 2, y - base // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (255, 255, 255),
                    thick, cv2.LINE_AA)
    return out


def write_annotated(out_dir: Path, image_path: str | Path, image: np.ndarray, plates, used: set) -> Path:
    """Write ``DIR/<stem>.annotated.jpg`` (``<stem>.N.annotated.jpg`` when two inputs share a stem)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(image_path).stem or "image"
    path, n = out_dir / f"{stem}.annotated.jpg", 1
    while path in used:
        n += 1
        path = out_dir / f"{stem}.{n}.annotated.jpg"
    used.add(path)
    ok, buf = cv2.imencode(".jpg", annotate(image, plates), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:  # pragma: no cover
        raise OSError(f"cannot encode the annotated {image_path}")
    path.write_bytes(buf.tobytes())
    return path
