"""Plate-specific rules on top of OCR lines: country bands, plate shape, two-row plates, overlap.

All rules are generic (no per-country format tables): a blue band at the left of a plate holds
the country code, a plate line is wider than tall, two text rows stacked over the same span
form one two-row plate, and readings that overlap in the image are one plate.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from .decoding import SEP, DecodedChar
from .geometry import REC_HEIGHT

REC_STRIDE = 8  # recogniser input pixels per CTC timestep


def blue_columns(crop: np.ndarray) -> np.ndarray:
    """Per-column fraction of saturated blue pixels in the middle rows of a line crop."""
    h = crop.shape[0]
    lo, hi = int(h * 0.25), max(int(h * 0.75), int(h * 0.25) + 1)
    hsv = cv2.cvtColor(np.ascontiguousarray(crop[lo:hi]), cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    blue = (hue >= 95) & (hue <= 130) & (sat >= 80) & (val >= 40)
    return blue.mean(axis=0)


def band_width(crop: np.ndarray, min_fraction: float = 0.4) -> int:
    """Width in pixels of a blue band at the left edge of a line crop (0 if there is none)."""
    cols = blue_columns(crop) >= min_fraction
    w = len(cols)
    start = 0
    while start < max(2, w // 20) and start < w and not cols[start]:
        start += 1  # a thin plate border before the band
    end = start
    while end < w and cols[end]:
        end += 1
    width = end - start
    if width < max(2, 0.03 * w) or end > 0.3 * w:
        return 0  # no band, or a blue plate / blue background rather than a band
    return end


def band_chars(crop: np.ndarray, rec_w: int, chars: Sequence[DecodedChar]) -> int:
    """How many leading characters of ``chars`` sit on a blue country band of ``crop``."""
    band = band_width(crop)
    if band == 0 or not chars:
        return 0
    h, w = crop.shape[:2]
    content_w = min(rec_w, math.ceil(REC_HEIGHT * w / max(h, 1)))
    px_per_step = REC_STRIDE * w / max(content_w, 1)
    n = 0
    for c in chars:
        if c.char == SEP:
            continue
        centre = (c.t0 + c.t1 + 1) / 2.0 * px_per_step
        if centre > band + 0.25 * px_per_step:
            break
        n += 1
    return n


def shape_prior(quad: np.ndarray) -> float:
    """Plate lines are clearly wider than tall and not extremely long."""
    w = float(np.linalg.norm(quad[1] - quad[0]))
    h = float(np.linalg.norm(quad[3] - quad[0]))
    ratio = w / max(h, 1.0)
    if ratio < 1.2:
        return 0.5
    if ratio > 12:
        return 0.6
    return 1.0


def stacked(upper: np.ndarray, lower: np.ndarray) -> bool:
    """True when ``lower`` is the second row of a two-row plate whose first row is ``upper``."""
    ux0, uy0 = upper.min(axis=0)
    ux1, uy1 = upper.max(axis=0)
    lx0, ly0 = lower.min(axis=0)
    lx1, ly1 = lower.max(axis=0)
    hu, hl = uy1 - uy0, ly1 - ly0
    if hu <= 0 or hl <= 0 or max(hu, hl) / min(hu, hl) > 2.0:
        return False
    if not (uy0 + 0.5 * hu < ly0 and (ly0 - uy1) < 0.6 * max(hu, hl)):
        return False
    overlap = min(ux1, lx1) - max(ux0, lx0)
    return bool(overlap >= 0.6 * min(ux1 - ux0, lx1 - lx0))


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two quads' bounding boxes over the smaller box's area."""
    ax0, ay0 = a.min(axis=0)
    ax1, ay1 = a.max(axis=0)
    bx0, by0 = b.min(axis=0)
    bx1, by1 = b.max(axis=0)
    iw = max(0.0, float(min(ax1, bx1) - max(ax0, bx0)))
    ih = max(0.0, float(min(ay1, by1) - max(ay0, by0)))
    smaller = min(float((ax1 - ax0) * (ay1 - ay0)), float((bx1 - bx0) * (by1 - by0)))
    return iw * ih / smaller if smaller > 0 else 0.0


def union_quad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Axis-aligned tl,tr,br,bl quad covering both quads."""
    pts = np.concatenate([a, b])
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)

