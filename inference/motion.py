"""Motion gating for fixed cameras: frames with no change in the road area skip detection.

:class:`MotionGate` keeps a slowly updated background of the road area (``roi``: x0, y0, x1, y1
as fractions of the frame) at low resolution. A frame *has motion* when enough cells differ
from the background by more than ``threshold`` grey levels after removing the frame's global
brightness shift (auto-exposure, clouds) and sensor noise (blur at low resolution). After
motion the gate stays open for ``hold`` more frames, so a vehicle that stops or leaves is read
to the end. The first frame always passes (there is no background yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class GateStats:
    frames: int = 0
    passed: int = 0

    @property
    def skipped(self) -> int:
        return self.frames - self.passed


class MotionGate:
    """``gate.passes(frame_bgr) -> bool``: whether this frame needs detection. One per camera."""

    def __init__(self, roi: tuple[float, float, float, float] = (0.0, 0.3, 1.0, 1.0), cell: int = 8,
                 threshold: float = 18.0, min_fraction: float = 0.004, hold: int = 2, learn: float = 0.05) -> None:
        x0, y0, x1, y1 = roi
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ValueError(f"roi must be fractions x0<x1, y0<y1 in [0, 1], got {roi}")
        if cell < 1 or threshold <= 0 or not 0 < min_fraction < 1 or hold < 0 or not 0 < learn <= 1:
            raise ValueError("need cell >= 1, threshold > 0, 0 < min_fraction < 1, hold >= 0, 0 < learn <= 1")
        self.roi, self.cell, self.threshold = roi, cell, threshold
        self.min_fraction, self.hold, self.learn = min_fraction, hold, learn
        self._bg: np.ndarray | None = None
        self._open = 0
        self.stats = GateStats()

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = self.roi
        area = frame[int(y0 * h): max(int(y1 * h), int(y0 * h) + 1), int(x0 * w): max(int(x1 * w), int(x0 * w) + 1)]
        gray = cv2.cvtColor(area, cv2.COLOR_BGR2GRAY) if area.ndim == 3 else area
        ah, aw = gray.shape
        small = cv2.resize(gray, (max(1, aw // self.cell), max(1, ah // self.cell)), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small.astype(np.float32), (3, 3), 0)

    def motion(self, frame: np.ndarray) -> bool:
        """Whether the road area changed against the background (and update the background)."""
        small = self._small(frame)
        if self._bg is None or self._bg.shape != small.shape:
            self._bg = small
            return True
        diff = small - self._bg
        diff -= float(np.median(diff))  # global brightness shift
        moving = float((np.abs(diff) > self.threshold).mean()) >= self.min_fraction
        if not moving:
            cv2.accumulateWeighted(small, self._bg, self.learn)
        return moving

    def passes(self, frame: np.ndarray) -> bool:
        first = self._bg is None
        moving = self.motion(frame)
        self._open = self.hold + 1 if moving and not first else max(0, self._open - 1)
        ok = moving or self._open > 0
        self.stats.frames += 1
        self.stats.passed += ok
        return ok
