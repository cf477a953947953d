"""Lighting modes of the synthetic camera: ``day`` (as rendered), ``night``, ``ir``, ``glare``.

Applied to a finished frame (after the camera's own brightness change and sensor noise):

- ``night``: the scene falls to about a fifth of its brightness, the plate less so (its
  plate lamp), lights bloom (the vehicle's tail lights and the headlights of oncoming
  traffic) and the sensor noise is strong;
- ``ir``: an infrared camera: grayscale, dark surroundings, and a high-contrast
  retroreflective plate (white background, dark characters); retroreflective road signs
  light up too;
- ``glare``: the sun or a lamp reflected by the plate: a bright ellipse with a saturated
  core over part of the plate, at a place fixed per vehicle.

Every random choice comes from generators seeded by the camera, so frames stay deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

LIGHTING = ("day", "night", "ir", "glare")


@dataclass(frozen=True)
class LitPlate:
    """A plate drawn in the frame: its vehicle and outer corners (TL, TR, BR, BL)."""

    vehicle_id: int
    corners: np.ndarray


@dataclass(frozen=True)
class Light:
    """A lamp that blooms at night: centre, core radius (px) and BGR colour."""

    x: float
    y: float
    radius: float
    color: tuple[float, float, float]


def check_mode(mode: str) -> str:
    mode = str(mode).lower()
    if mode not in LIGHTING:
        raise ValueError(f"unknown lighting {mode!r}; known: {', '.join(LIGHTING)}")
    return mode


def _poly_mask(shape: tuple[int, int], polys: Sequence[np.ndarray]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    for p in polys:
        cv2.fillConvexPoly(m, np.round(p).astype(np.int32), 255, cv2.LINE_AA)
    return m


def oncoming_headlights(width: int, height: int, rng: np.random.Generator) -> list[Light]:
    """A pair of headlights of an oncoming car, somewhere on the far side of the road."""
    x = float(rng.uniform(0.05, 0.95) * width)
    y = float(rng.uniform(0.40, 0.48) * height)
    r = float(rng.uniform(0.008, 0.014) * width)
    gap = r * float(rng.uniform(5.0, 7.0))
    col = (235.0, 245.0, 255.0)
    return [Light(x - gap / 2, y, r, col), Light(x + gap / 2, y, r, col)]


def _night(frame: np.ndarray, plates: Sequence[LitPlate], lights: Sequence[Light],
           rng: np.random.Generator) -> None:
    H, W = frame.shape[:2]
    lamp = cv2.GaussianBlur(_poly_mask((H, W), [p.corners for p in plates]).astype(np.float32) / 255.0,
                            (0, 0), 2.0)
    gain = float(rng.uniform(0.16, 0.24)) + float(rng.uniform(0.35, 0.5)) * lamp
    f = frame.astype(np.float32) * gain[:, :, None]
    f *= np.array([1.08, 1.0, 0.92], np.float32)  # a cool cast from the street lights
    bloom = np.zeros((H, W, 3), np.float32)
    for light in lights:
        cv2.circle(bloom, (int(light.x), int(light.y)), max(1, int(light.radius * 3)),
                   tuple(c * 0.6 for c in light.color), -1, cv2.LINE_AA)
        cv2.circle(bloom, (int(light.x), int(light.y)), max(1, int(light.radius)),
                   tuple(c * 4.0 for c in light.color), -1, cv2.LINE_AA)
    if lights:
        sigma = max(2.0, float(np.mean([li.radius for li in lights])) * 1.5)
        f += cv2.GaussianBlur(bloom, (0, 0), sigma) + cv2.GaussianBlur(bloom, (0, 0), sigma * 4) * 0.5
    f += rng.normal(0.0, 6.0, (H, W, 1)).astype(np.float32)  # luminance noise
    f += rng.normal(0.0, 3.0, (H, W, 3)).astype(np.float32)  # colour noise
    np.clip(f, 0, 255, out=f)
    frame[:] = f.astype(np.uint8)


def _infrared(frame: np.ndarray, plates: Sequence[LitPlate], reflective: Sequence[np.ndarray],
              rng: np.random.Generator) -> None:
    H, W = frame.shape[:2]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    out = gray * float(rng.uniform(0.22, 0.32))
    for poly in [p.corners for p in plates] + list(reflective):
        x0, y0 = np.floor(poly.min(axis=0)).astype(int)
        x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        m = _poly_mask((y1 - y0, x1 - x0), [poly - (x0, y0)]).astype(np.float32) / 255.0
        region = gray[y0:y1, x0:x1]
        inside = region[m > 0.5]
        if inside.size < 4:
            continue
        lo, hi = np.percentile(inside, 4), np.percentile(inside, 65)
        lit = np.clip((region - lo) / max(8.0, hi - lo) * 232.0 + 12.0, 0, 252)
        out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1.0 - m) + lit * m
    out += rng.normal(0.0, 4.0, (H, W)).astype(np.float32)
    g8 = np.clip(out, 0, 255).astype(np.uint8)
    frame[:] = g8[:, :, None]


def glare_spot(corners: np.ndarray, rng: np.random.Generator) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Centre, semi-axes and angle (degrees) of a glare ellipse over part of a plate."""
    if rng.random() < 0.6:  # over the state name or the slogan, reaching into the characters
        u, v = float(rng.uniform(0.1, 0.9)), float(rng.choice([rng.uniform(0.0, 0.2), rng.uniform(0.8, 1.0)]))
    else:  # at one end
        u, v = float(rng.choice([rng.uniform(-0.12, -0.02), rng.uniform(1.02, 1.12)])), float(rng.uniform(0.2, 0.8))
    tl, tr, br, bl = (np.asarray(c, np.float64) for c in corners)
    top, bot = tl + (tr - tl) * u, bl + (br - bl) * u
    cx, cy = top + (bot - top) * v
    pw = float(np.linalg.norm(tr - tl))
    ph = float(np.linalg.norm(bl - tl))
    a = float(rng.uniform(0.18, 0.32)) * pw
    b = float(rng.uniform(0.35, 0.6)) * ph
    return (float(cx), float(cy)), (a, b), float(rng.uniform(-30.0, 30.0))


def _glare(frame: np.ndarray, plates: Sequence[LitPlate], seed: int) -> None:
    H, W = frame.shape[:2]
    for p in plates:
        (cx, cy), (a, b), ang = glare_spot(p.corners, np.random.default_rng([seed, 8, p.vehicle_id]))
        r = 1.25 * max(a, b)
        x0, y0, x1, y1 = max(0, int(cx - r)), max(0, int(cy - r)), min(W, int(cx + r) + 1), min(H, int(cy + r) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        t = np.radians(ang)
        dx, dy = xx - cx, yy - cy
        u = (dx * np.cos(t) + dy * np.sin(t)) / a
        v = (-dx * np.sin(t) + dy * np.cos(t)) / b
        d = np.sqrt(u * u + v * v)
        alpha = np.clip((1.2 - d) / 0.7, 0.0, 1.0) ** 1.3  # saturated core (d <= 0.5), soft halo to d = 1.2
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        roi = roi * (1.0 - alpha[:, :, None]) + 255.0 * alpha[:, :, None]
        frame[y0:y1, x0:x1] = np.clip(np.round(roi), 0, 255).astype(np.uint8)


def apply_lighting(frame: np.ndarray, mode: str, plates: Sequence[LitPlate], rng: np.random.Generator, *,
                   seed: int = 0, lights: Sequence[Light] = (), reflective: Sequence[np.ndarray] = ()) -> None:
    """Apply lighting ``mode`` to ``frame`` (BGR uint8) in place; ``day`` leaves it as it is.

    ``plates`` are the plates in view; ``lights`` bloom at night; ``reflective`` polygons
    (road signs) light up in infrared like a plate; ``seed`` fixes the glare per vehicle.
    """
    mode = check_mode(mode)
    if mode == "night":
        _night(frame, plates, lights, rng)
    elif mode == "ir":
        _infrared(frame, plates, reflective, rng)
    elif mode == "glare":
        _glare(frame, plates, seed)


def vehicle_lights(left: float, top: float, car_w: int, car_h: int) -> list[Light]:
    """The two tail lights of a car sprite placed at (left, top) (see ``scene.render_car``)."""
    y = top + 0.525 * car_h
    r = 0.035 * car_w
    col = (60.0, 60.0, 255.0)
    return [Light(left + 0.135 * car_w, y, r, col), Light(left + 0.865 * car_w, y, r, col)]


def scene_lights(width: int, height: int, rng: np.random.Generator,
                 cars: Sequence[tuple[float, float, int, int]]) -> list[Light]:
    """Lights that bloom at night: each car's tail lights (``cars`` are (left, top, width,
    height) of the sprites in view) and oncoming headlights where no car hides them."""
    out = [li for li in oncoming_headlights(width, height, rng)
           if not any(x <= li.x <= x + w and y <= li.y <= y + h for x, y, w, h in cars)]
    for x, y, w, h in cars:
        out += vehicle_lights(x, y, w, h)
    return out
