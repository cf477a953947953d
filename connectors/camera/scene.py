"""Static scene pieces for the synthetic camera: the background and vehicle sprites.

Everything here is drawn once (per camera / per vehicle) with OpenCV primitives, so a
frame is just copies, a small warp and a few saturating adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# BGR body colours: white, silver, black, red, blue, grey, dark green, beige, maroon
CAR_COLORS: tuple[tuple[int, int, int], ...] = (
    (235, 235, 232), (190, 192, 196), (32, 32, 36), (40, 40, 180), (150, 80, 30),
    (110, 110, 112), (50, 90, 40), (150, 185, 205), (40, 30, 110),
)


def _shade(color: tuple[int, ...], f: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * f, 0, 255)) for c in color)  # type: ignore[return-value]


def render_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A road scene: sky, a row of buildings, kerb, asphalt with lane markings, a sign."""
    img = np.empty((height, width, 3), np.uint8)
    horizon = int(0.34 * height)
    # sky gradient
    top = np.array([205, 170, 120], np.float32) + rng.uniform(-15, 15, 3)
    bottom = np.array([235, 220, 200], np.float32) + rng.uniform(-10, 10, 3)
    a = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None]
    img[:horizon] = np.clip(top * (1 - a) + bottom * a, 0, 255).astype(np.uint8)[:, None, :]
    # buildings
    x = 0
    while x < width:
        w = int(rng.uniform(0.06, 0.16) * width)
        h = int(rng.uniform(0.12, 0.30) * height)
        tone = float(rng.uniform(90, 200))
        col = tuple(int(tone + rng.uniform(-20, 20)) for _ in range(3))
        cv2.rectangle(img, (x, horizon - h), (x + w, horizon), col, -1)
        win = _shade(col, 0.6)
        for wy in range(horizon - h + 8, horizon - 10, 18):
            for wx in range(x + 6, x + w - 10, 16):
                cv2.rectangle(img, (wx, wy), (wx + 7, wy + 9), win, -1)
        x += w + int(rng.uniform(0, 0.02) * width)
    # pavement / kerb
    kerb = int(0.40 * height)
    img[horizon:kerb] = (150, 155, 158)
    img[kerb: kerb + 6] = (200, 200, 200)
    # asphalt with low-frequency texture
    road = np.full((height - kerb - 6, width), 92, np.float32)
    tex = rng.normal(0, 1, (road.shape[0] // 8 + 1, width // 8 + 1)).astype(np.float32)
    tex = cv2.resize(tex, (width, road.shape[0]), interpolation=cv2.INTER_CUBIC)
    road += 7 * tex + rng.normal(0, 3, road.shape).astype(np.float32)
    img[kerb + 6:] = np.clip(road, 0, 255).astype(np.uint8)[:, :, None]
    # dashed lane markings
    for fy in (0.58, 0.78, 0.97):
        y = int(fy * height)
        for dx in range(0, width, 120):
            cv2.rectangle(img, (dx, y - 2), (dx + 60, y + 2), (215, 215, 215), -1)
    # a speed-limit sign on a pole (text that is not a plate)
    sx = int(rng.uniform(0.65, 0.9) * width)
    cv2.rectangle(img, (sx + 17, int(0.16 * height)), (sx + 23, kerb), (90, 90, 90), -1)
    cv2.rectangle(img, (sx, int(0.07 * height)), (sx + 40, int(0.16 * height)), (245, 245, 245), -1)
    cv2.rectangle(img, (sx, int(0.07 * height)), (sx + 40, int(0.16 * height)), (20, 20, 20), 1)
    cv2.putText(img, "SPEED", (sx + 3, int(0.095 * height)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (20, 20, 20), 1)
    cv2.putText(img, "LIMIT", (sx + 5, int(0.115 * height)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (20, 20, 20), 1)
    cv2.putText(img, "35", (sx + 8, int(0.152 * height)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2)
    return img


@dataclass(frozen=True)
class CarSprite:
    """A rear view of a car: BGR image, its mask and where the plate's centre sits."""

    image: np.ndarray
    mask: np.ndarray  # uint8 0/255, same height/width as image
    plate_cx: float
    plate_cy: float

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def render_car(plate_w: int, plate_h: int, color: tuple[int, ...]) -> CarSprite:
    """Draw a simple car (rear view) sized so a ``plate_w`` plate sits on its bumper."""
    w = int(round(plate_w * 3.4))
    h = int(round(w * 0.78))
    img = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    body = tuple(int(c) for c in color)
    dark = _shade(body, 0.55)
    wheel_h = int(0.12 * h)
    body_top = int(0.42 * h)
    body_bot = h - wheel_h // 2
    # wheels (visible below the body)
    for x0 in (int(0.08 * w), int(0.74 * w)):
        cv2.rectangle(img, (x0, body_bot - wheel_h), (x0 + int(0.18 * w), h - 1), (18, 18, 18), -1)
        cv2.rectangle(mask, (x0, body_bot - wheel_h), (x0 + int(0.18 * w), h - 1), 255, -1)
    # cabin: trapezoid roof with rear window
    cabin = np.array([[int(0.18 * w), body_top], [int(0.82 * w), body_top],
                      [int(0.72 * w), int(0.04 * h)], [int(0.28 * w), int(0.04 * h)]], np.int32)
    cv2.fillConvexPoly(img, cabin, _shade(body, 0.9), cv2.LINE_AA)
    cv2.fillConvexPoly(mask, cabin, 255, cv2.LINE_AA)
    glass = np.array([[int(0.23 * w), body_top - int(0.04 * h)], [int(0.77 * w), body_top - int(0.04 * h)],
                      [int(0.69 * w), int(0.09 * h)], [int(0.31 * w), int(0.09 * h)]], np.int32)
    cv2.fillConvexPoly(img, glass, (70, 60, 55), cv2.LINE_AA)
    cv2.line(img, (int(0.33 * w), int(0.12 * h)), (int(0.45 * w), int(0.12 * h)), (120, 110, 105), 2)
    # body with rounded corners
    r = int(0.06 * h)
    x1, x2 = int(0.02 * w), int(0.98 * w)
    for target, val in ((img, body), (mask, 255)):
        cv2.rectangle(target, (x1 + r, body_top), (x2 - r, body_bot), val, -1)
        cv2.rectangle(target, (x1, body_top + r), (x2, body_bot - r), val, -1)
        for cx, cy in ((x1 + r, body_top + r), (x2 - r, body_top + r), (x1 + r, body_bot - r), (x2 - r, body_bot - r)):
            cv2.circle(target, (cx, cy), r, val, -1, cv2.LINE_AA)
    # boot lid line, tail lights, bumper
    cv2.line(img, (x1 + r, int(0.56 * h)), (x2 - r, int(0.56 * h)), dark, 2)
    for lx in (x1 + int(0.03 * w), x2 - int(0.03 * w) - int(0.17 * w)):
        cv2.rectangle(img, (lx, int(0.47 * h)), (lx + int(0.17 * w), int(0.58 * h)), (30, 30, 190), -1)
        cv2.rectangle(img, (lx, int(0.47 * h)), (lx + int(0.17 * w), int(0.58 * h)), (20, 20, 90), 2)
    bumper_top = int(0.80 * h)
    cv2.rectangle(img, (x1 + r // 2, bumper_top), (x2 - r // 2, body_bot), _shade(body, 0.7), -1)
    # plate recess (slightly darker than the body) centred above the bumper
    pcx, pcy = w / 2.0, 0.69 * h
    cv2.rectangle(img, (int(pcx - plate_w * 0.62), int(pcy - plate_h * 0.65)),
                  (int(pcx + plate_w * 0.62), int(pcy + plate_h * 0.65)), _shade(body, 0.8), -1)
    return CarSprite(img, mask, pcx, pcy)
