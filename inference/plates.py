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


#: a country band sits on a plate that is not blue itself: past the band, at most this share of
#: the middle rows may be blue (a blue US plate, e.g. Delaware's, or a sky-blue scenic background
#: would otherwise make the plate's first characters a "band" and drop them)
MAX_BLUE_AFTER_BAND = 0.2


def band_width(crop: np.ndarray, min_fraction: float = 0.4) -> int:
    """Width in pixels of a blue band at the left edge of a line crop (0 if there is none)."""
    fractions = blue_columns(crop)
    cols = fractions >= min_fraction
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
    if float(fractions[end:].mean()) > MAX_BLUE_AFTER_BAND:
        return 0  # the plate itself is blue past the "band": no country band
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



def _ink(crop: np.ndarray) -> np.ndarray:
    """Boolean ink mask of a line crop: Otsu threshold, the minority side is the ink."""
    gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_BGR2GRAY)
    _, dark = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    ink = dark > 0
    return ink if ink.mean() <= 0.5 else ~ink


def char_heights(crop: np.ndarray, rec_w: int, chars: Sequence[DecodedChar]) -> list[tuple[float, float]]:
    """Per character ``(height, stack)`` in pixels: the tallest connected ink blob centred between
    it and its neighbours, and the span of the tallest pair of similar blobs stacked one above
    the other there (a stacked type code such as ``B/R``; 0 when there is none). Blobs nearly
    as tall as the crop (plate border, frame, background) say nothing; a character with no blob
    gets ``nan`` as its height."""
    h, w = crop.shape[:2]
    if not chars or h < 8:
        return [(float("nan"), 0.0)] * len(chars)
    content_w = min(rec_w, math.ceil(REC_HEIGHT * w / max(h, 1)))
    px_per_step = REC_STRIDE * w / max(content_w, 1)
    centres = [(c.t0 + c.t1 + 1) / 2.0 * px_per_step for c in chars]
    n, _, stats, _ = cv2.connectedComponentsWithStats(_ink(crop).astype(np.uint8), connectivity=8)
    blobs = [(x + bw / 2.0, float(y), float(y + bh)) for x, y, bw, bh, area in stats[1:n]
             if 0.15 * h <= bh <= 0.9 * h and area >= 0.002 * h * h and bw < 0.9 * h]
    out: list[tuple[float, float]] = []
    for i, x in enumerate(centres):
        gap = min([abs(x - c) for j, c in enumerate(centres) if j != i], default=h / 2.0)
        near = [(y0, y1) for cx, y0, y1 in blobs if abs(cx - x) <= 0.5 * gap]
        if not near:
            out.append((float("nan"), 0.0))
            continue
        stack = max((b1 - a0 for a0, a1 in near for b0, b1 in near
                     if b0 >= a1 - 0.2 * min(a1 - a0, b1 - b0)
                     and min(a1 - a0, b1 - b0) >= 0.6 * max(a1 - a0, b1 - b0)), default=0.0)
        out.append((max(y1 - y0 for y0, y1 in near), stack))
    return out


#: characters at either end of a line whose ink is shorter than this share of the line's median
#: character height, where two similar small blobs stacked one above the other span most of
#: that height, are not part of the registration (stacked type codes such as ``B/R``, ``L/S``)
SMALL_CHAR = 0.7
#: below this median character height (pixels) blobs are too coarse to tell a stacked pair from
#: a character broken by blur or low resolution, and nothing is dropped
MIN_CHAR_PX = 24


def small_ends(heights: Sequence[tuple[float, float]], max_drop: int = 2) -> tuple[int, int]:
    """How many leading and trailing characters are stacked pairs clearly smaller than the
    registration's characters (as :func:`char_heights` measures them)."""
    n = len(heights)
    known = [hh for hh, _ in heights if hh == hh]
    if n < 4 or len(known) < 3:
        return 0, 0
    med = float(np.median(known))
    if med < MIN_CHAR_PX:
        return 0, 0
    small = [hh == hh and hh < SMALL_CHAR * med and st >= 0.75 * med for hh, st in heights]
    lead = 0
    while lead < min(max_drop, n - 3) and small[lead]:
        lead += 1
    trail = 0
    while trail < min(max_drop, n - 3 - lead) and small[n - 1 - trail]:
        trail += 1
    return lead, trail
