"""Per-frame optics of the synthetic camera: placing a plate in the frame, and blur/shadow on a vehicle."""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["degrade", "draw_plate"]


def degrade(frame: np.ndarray, roi: np.ndarray, corners: np.ndarray, g: np.random.Generator, lvl: float) -> None:
    """Per-frame optics on one vehicle: shadow/glare on the plate (occasional), motion
    blur (occasionally long) and focus blur, all scaled by ``lvl`` (the camera's ``noise_level``)."""
    H, W = frame.shape[:2]
    u = g.random(3)  # event draws, fixed count so the stream stays aligned
    if u[0] < 0.07 * lvl:  # shadow or glare band across part of the plate
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        if x1 > x0 and y1 > y0:
            box = frame[y0:y1, x0:x1]
            ramp = np.clip(np.linspace(-1.0, 2.0, x1 - x0, dtype=np.float32)
                           * g.choice([-1.0, 1.0]) + g.uniform(-0.5, 0.5), 0.0, 1.0)
            if g.random() < 0.5:  # shadow: darken
                gain = 1.0 - ramp * g.uniform(0.35, 0.6)
                box[:] = np.clip(box * gain[None, :, None], 0, 255).astype(np.uint8)
            else:  # glare: wash out toward white
                a = (ramp * g.uniform(0.35, 0.65))[None, :, None]
                box[:] = np.clip(box * (1.0 - a) + 255.0 * a, 0, 255).astype(np.uint8)
    if u[1] < 0.06 * lvl:  # a long exposure: strong motion blur
        blur_len = int(g.integers(6, 12))
    else:
        blur_len = int(round(g.uniform(0.0, 3.5) * lvl)) + 1
    if blur_len >= 2:
        cv2.blur(roi, (blur_len, 1), dst=roi)
    sigma = g.uniform(0.2, 0.8) * lvl * (2.0 if u[2] < 0.04 * lvl else 1.0)  # sometimes out of focus
    if sigma >= 0.3:
        cv2.GaussianBlur(roi, (0, 0), sigma, dst=roi)

def draw_plate(frame: np.ndarray, plate: np.ndarray, corners: np.ndarray) -> None:
    """Warp ``plate`` onto ``frame`` so its outer corners land on ``corners`` (TL, TR, BR, BL)."""
    H, W = frame.shape[:2]
    x0 = max(0, int(math.floor(corners[:, 0].min())) - 1)
    y0 = max(0, int(math.floor(corners[:, 1].min())) - 1)
    x1 = min(W, int(math.ceil(corners[:, 0].max())) + 2)
    y1 = min(H, int(math.ceil(corners[:, 1].max())) + 2)
    if x0 >= x1 or y0 >= y1:
        return
    ph, pw = plate.shape[:2]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32) - 0.5
    dst = corners - np.array([x0, y0], np.float32)
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    roi = frame[y0:y1, x0:x1]
    warped = cv2.warpPerspective(plate, M, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), M, (x1 - x0, y1 - y0),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = mask.astype(np.float32)[:, :, None] / 255.0
    roi[:] = (warped * a + roi * (1.0 - a)).astype(np.uint8)
