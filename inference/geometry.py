"""Image geometry for plate reading: detector pre-processing, DB box extraction, line merging,
perspective crops and recogniser input tensors.

Re-implements the PaddleOCR / RapidOCR (Apache-2.0) DB post-processing with plain OpenCV,
numpy and pyclipper (no shapely).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper

REC_HEIGHT = 48
#: Fixed recogniser input widths. A crop always goes into the same width whatever else is in
#: the batch, so batched and single-image results are identical.
REC_WIDTHS = (96, 160, 240, 320, 480)


def normalize(img_bgr: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 BGR -> float32 3xHxW in [-1, 1] (PP-OCR normalisation)."""
    x = img_bgr.astype(np.float32) * (2.0 / 255.0) - 1.0
    return x.transpose(2, 0, 1)


def det_size(h: int, w: int, long_side: int, max_upscale: float) -> tuple[int, int]:
    """Detector input size (multiples of 32) for an ``h`` x ``w`` image."""
    scale = min(long_side / max(h, w), max_upscale)
    rh = max(32, int(math.ceil(h * scale / 32.0)) * 32)
    rw = max(32, int(math.ceil(w * scale / 32.0)) * 32)
    return rh, rw


def det_input(img_bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rh, rw = size
    interp = cv2.INTER_AREA if rh < img_bgr.shape[0] else cv2.INTER_LINEAR
    return normalize(cv2.resize(img_bgr, (rw, rh), interpolation=interp))


@dataclass(frozen=True)
class TextBox:
    """A detected text quad in image coordinates: tl, tr, br, bl (float32 [4,2])."""

    quad: np.ndarray
    score: float

    @property
    def width(self) -> float:
        q = self.quad
        return float((np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2)

    @property
    def height(self) -> float:
        q = self.quad
        return float((np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2)

    @property
    def center(self) -> np.ndarray:
        return self.quad.mean(axis=0)


def order_quad(points: np.ndarray) -> np.ndarray:
    """Order 4 points as top-left, top-right, bottom-right, bottom-left (like RapidOCR)."""
    pts = sorted(points.tolist(), key=lambda p: p[0])
    left = sorted(pts[:2], key=lambda p: p[1])
    right = sorted(pts[2:], key=lambda p: p[1])
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def _mini_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    rect = cv2.minAreaRect(points.reshape(-1, 1, 2).astype(np.float32))
    return order_quad(cv2.boxPoints(rect)), float(min(rect[1]))


def _box_score(prob: np.ndarray, quad: np.ndarray) -> float:
    h, w = prob.shape
    xmin = int(np.clip(np.floor(quad[:, 0].min()), 0, w - 1))
    xmax = int(np.clip(np.ceil(quad[:, 0].max()), 0, w - 1))
    ymin = int(np.clip(np.floor(quad[:, 1].min()), 0, h - 1))
    ymax = int(np.clip(np.ceil(quad[:, 1].max()), 0, h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    shifted = (quad - np.array([xmin, ymin], dtype=np.float32)).astype(np.int32)
    cv2.fillPoly(mask, shifted.reshape(1, -1, 2), 1)
    return float(cv2.mean(prob[ymin : ymax + 1, xmin : xmax + 1], mask)[0])


def _unclip(quad: np.ndarray, ratio: float) -> np.ndarray | None:
    x, y = quad[:, 0], quad[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    length = float(np.linalg.norm(quad - np.roll(quad, 1, axis=0), axis=1).sum())
    if length <= 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(quad.astype(np.int64).tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    out = offset.Execute(area * ratio / length)
    if not out:
        return None
    return np.array(out[0], dtype=np.float32)


def boxes_from_prob(
    prob: np.ndarray,
    dest_hw: tuple[int, int],
    thresh: float = 0.3,
    box_thresh: float = 0.5,
    unclip_ratio: float = 1.6,
    max_candidates: int = 200,
    min_size: float = 3.0,
) -> list[TextBox]:
    """DB post-processing: probability map ``[H,W]`` -> text quads scaled to ``dest_hw``."""
    h, w = prob.shape
    dest_h, dest_w = dest_hw
    bitmap = (prob > thresh).astype(np.uint8)
    bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes: list[TextBox] = []
    for contour in contours[:max_candidates]:
        quad, sside = _mini_box(contour)
        if sside < min_size:
            continue
        score = _box_score(prob, quad)
        if score < box_thresh:
            continue
        expanded = _unclip(quad, unclip_ratio)
        if expanded is None:
            continue
        quad, sside = _mini_box(expanded)
        if sside < min_size + 2:
            continue
        quad[:, 0] = np.clip(quad[:, 0] / w * dest_w, 0, dest_w)
        quad[:, 1] = np.clip(quad[:, 1] / h * dest_h, 0, dest_h)
        boxes.append(TextBox(quad, score))
    return boxes


def box_angle(box: TextBox) -> float:
    q = box.quad
    v = (q[1] - q[0]) + (q[2] - q[3])
    return math.degrees(math.atan2(float(v[1]), float(v[0])))


def same_line(a: TextBox, b: TextBox, max_gap: float = 1.2) -> bool:
    """True when ``b`` continues ``a``'s text line: similar height, aligned, close gap."""
    ha, hb = a.height, b.height
    if min(ha, hb) <= 0 or max(ha, hb) / min(ha, hb) > 1.8:
        return False
    if abs(box_angle(a) - box_angle(b)) > 12:
        return False
    h = max(ha, hb)
    ca, cb = a.center, b.center
    if abs(float(ca[1] - cb[1])) > 0.45 * h:
        return False
    ax0, ax1 = float(a.quad[:, 0].min()), float(a.quad[:, 0].max())
    bx0, bx1 = float(b.quad[:, 0].min()), float(b.quad[:, 0].max())
    gap = max(bx0 - ax1, ax0 - bx1)
    return gap <= max_gap * h


def merge_boxes(a: TextBox, b: TextBox) -> TextBox:
    quad, _ = _mini_box(np.concatenate([a.quad, b.quad]))
    return TextBox(quad, min(a.score, b.score))


def line_groups(boxes: list[TextBox], max_gap: float = 1.2) -> list[list[int]]:
    """Group box indices into text lines (transitively joined by :func:`same_line`)."""
    n = len(boxes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if same_line(boxes[i], boxes[j], max_gap):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [sorted(g, key=lambda k: float(boxes[k].quad[:, 0].min())) for g in groups.values()]


def expand_quad(quad: np.ndarray, pad_x: float, pad_y: float) -> np.ndarray:
    """Grow a tl,tr,br,bl quad by ``pad_x`` x its height at each end and ``pad_y`` x height."""
    tl, tr, br, bl = quad.astype(np.float32)
    ux = (tr - tl) + (br - bl)
    ux /= max(float(np.linalg.norm(ux)), 1e-6)
    uy = (bl - tl) + (br - tr)
    uy /= max(float(np.linalg.norm(uy)), 1e-6)
    h = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    dx, dy = ux * pad_x * h, uy * pad_y * h
    return np.array([tl - dx - dy, tr + dx - dy, br + dx + dy, bl - dx + dy], dtype=np.float32)


def crop_quad(img: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Perspective-warp a tl,tr,br,bl quad into an upright rectangle (border replicated)."""
    tl, tr, br, bl = quad.astype(np.float32)
    w = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    h = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    w, h = max(w, 2), max(h, 2)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def rec_width(crop_hw: tuple[int, int]) -> int:
    """The fixed recogniser width bucket for a crop of this size."""
    h, w = crop_hw
    need = REC_HEIGHT * w / max(h, 1)
    for bw in REC_WIDTHS:
        if need <= bw:
            return bw
    return REC_WIDTHS[-1]


def rec_input(crop: np.ndarray, width: int) -> np.ndarray:
    """Resize a crop to height 48 keeping aspect (capped at ``width``), pad right with 0."""
    h, w = crop.shape[:2]
    rw = min(width, max(1, int(math.ceil(REC_HEIGHT * w / max(h, 1)))))
    resized = cv2.resize(crop, (rw, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((3, REC_HEIGHT, width), dtype=np.float32)
    out[:, :, :rw] = normalize(resized)
    return out
