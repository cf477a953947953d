"""Ground truth of the synthetic camera: vehicle passages, per-frame plate truth, clip files.

:func:`write_clip` writes a clip's frames and ``ground_truth.json``; :func:`load_ground_truth`
reads the file back. The truth gives the registration only (A-Z/0-9, no gaps): state names,
slogans, stickers, frames and stacked type codes drawn on a plate are never part of it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .synthetic import SyntheticCamera

__all__ = ["Corner", "VehicleSpec", "FrameTruth", "GroundTruth", "GROUND_TRUTH_FILE", "write_clip",
           "load_ground_truth"]

Corner = tuple[float, float]



@dataclass(frozen=True)
class VehicleSpec:
    """One vehicle passage.

    ``plate`` is the registration (A-Z/0-9, no gaps); ``enter_ts`` is seconds after the
    camera's ``start_ts`` at which the vehicle's leading edge reaches the frame edge;
    ``speed_px_s`` is its horizontal speed (positive: left to right, negative: right to
    left); ``lane_y`` is the frame row of the plate's centre (lower rows are nearer the
    camera: the plate is drawn wider, see :func:`plate_width_for_lane`); ``color`` is the
    body colour (BGR).
    """

    plate: str
    state: str
    enter_ts: float
    speed_px_s: float
    lane_y: int
    color: tuple

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["color"] = list(self.color)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "VehicleSpec":
        return cls(plate=str(d["plate"]), state=str(d["state"]), enter_ts=float(d["enter_ts"]),
                   speed_px_s=float(d["speed_px_s"]), lane_y=int(d["lane_y"]),
                   color=tuple(int(c) for c in d["color"]))


@dataclass(frozen=True)
class FrameTruth:
    """One plate fully visible (inside the image and not occluded) in one frame.

    ``corners`` are the plate's outer corners in image pixels: top-left, top-right,
    bottom-right, bottom-left.
    """

    seq: int
    capture_ts: float
    vehicle_id: int
    plate: str
    state: str
    corners: tuple[Corner, Corner, Corner, Corner]

    def bbox(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the corners."""
        xs = [c[0] for c in self.corners]
        ys = [c[1] for c in self.corners]
        return min(xs), min(ys), max(xs), max(ys)

    def to_dict(self) -> dict:
        return {"seq": self.seq, "capture_ts": self.capture_ts, "vehicle_id": self.vehicle_id,
                "plate": self.plate, "state": self.state, "corners": [list(c) for c in self.corners]}

    @classmethod
    def from_dict(cls, d: dict) -> "FrameTruth":
        corners = tuple((float(x), float(y)) for x, y in d["corners"])
        if len(corners) != 4:
            raise ValueError(f"FrameTruth needs 4 corners, got {len(corners)}")
        return cls(seq=int(d["seq"]), capture_ts=float(d["capture_ts"]), vehicle_id=int(d["vehicle_id"]),
                   plate=str(d["plate"]), state=str(d["state"]), corners=corners)  # type: ignore[arg-type]


@dataclass(frozen=True)
class GroundTruth:
    """What :func:`load_ground_truth` returns: clip metadata, vehicles and per-frame truth."""

    camera_id: str
    agency: str
    fps: float
    start_ts: float
    width: int
    height: int
    n_frames: int
    vehicles: list[VehicleSpec]
    truth: list[FrameTruth]

    def by_vehicle(self) -> dict[int, list[FrameTruth]]:
        out: dict[int, list[FrameTruth]] = {}
        for t in self.truth:
            out.setdefault(t.vehicle_id, []).append(t)
        return out


GROUND_TRUTH_FILE = "ground_truth.json"


def write_clip(out_dir: str | Path, camera: SyntheticCamera) -> Path:
    """Write ``frame_000000.jpg`` ... and ``ground_truth.json`` into ``out_dir``; return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for f in camera.frames():
        (out / f"frame_{f.seq:06d}.jpg").write_bytes(f.data)
    doc = dict(camera.metadata())
    doc["schema"] = "SyntheticClip/1"
    doc["vehicles"] = [dict(s.to_dict(), vehicle_id=i) for i, s in enumerate(camera.vehicles)]
    doc["truth"] = [t.to_dict() for t in camera.ground_truth()]
    (out / GROUND_TRUTH_FILE).write_text(json.dumps(doc, indent=1))
    return out


def load_ground_truth(path: str | Path) -> GroundTruth:
    """Read a clip's ground truth (``path`` is the clip folder or its ``ground_truth.json``)."""
    p = Path(path)
    if p.is_dir():
        p = p / GROUND_TRUTH_FILE
    if not p.is_file():
        raise FileNotFoundError(f"no ground truth at {p}")
    try:
        doc = json.loads(p.read_text())
        return GroundTruth(
            camera_id=str(doc["camera_id"]), agency=str(doc["agency"]), fps=float(doc["fps"]),
            start_ts=float(doc["start_ts"]), width=int(doc["width"]), height=int(doc["height"]),
            n_frames=int(doc["n_frames"]),
            vehicles=[VehicleSpec.from_dict(v) for v in doc["vehicles"]],
            truth=[FrameTruth.from_dict(t) for t in doc["truth"]],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{p}: not a synthetic clip ground truth file: {exc}") from exc
