"""Text in a US street scene that is not a plate, and the hard US scenes used for evaluation.

:func:`add_scene_distractors` paints a road sign on a pole (``EXIT 798``, ``14 MILE``) and
a shop sign on a building (``PENSKE``, ``AUTO PARTS``) into a camera's background;
:func:`add_bumper_sticker` puts a bumper sticker (``RESIDENT``, ``HONK``) on a car beside
its plate. Their text is never a plate and never in the ground truth.

:func:`us_scene_samples` renders the ``synthetic-us`` evaluation set of
``benchmarks/eval_accuracy.py``: 1280x720 frames, each with one US plate of a hard design
(:mod:`~alpr.connectors.camera.us_designs`) in a scene with distractor text, under day,
night, infrared and glare lighting in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, NamedTuple, Sequence

import cv2
import numpy as np

from .plates import REG_FONTS, SMALL_FONTS, _blit_text
from .scene import CarSprite

BGR = tuple[int, int, int]

# (lines, panel, text) in BGR: green guide signs, white regulatory signs
ROAD_SIGNS: tuple[tuple[tuple[str, ...], BGR, BGR], ...] = (
    (("EXIT 798",), (60, 110, 20), (245, 245, 245)),
    (("14 MILE",), (60, 110, 20), (245, 245, 245)),
    (("NORTH",), (60, 110, 20), (245, 245, 245)),
    (("EXIT 42B", "NORTH"), (60, 110, 20), (245, 245, 245)),
    (("ONE WAY",), (245, 245, 245), (20, 20, 20)),
    (("NO PARKING",), (245, 245, 245), (30, 30, 190)),
    (("MAIN ST",), (60, 110, 20), (245, 245, 245)),
)
SHOP_SIGNS: tuple[tuple[str, BGR, BGR], ...] = (
    ("PENSKE", (30, 200, 250), (20, 20, 20)),
    ("AUTO PARTS", (30, 30, 200), (245, 245, 245)),
    ("PIZZA", (240, 240, 240), (20, 30, 180)),
    ("TIRES", (20, 20, 20), (40, 210, 250)),
    ("CAR WASH", (180, 90, 20), (245, 245, 245)),
    ("OPEN 24 HRS", (20, 20, 20), (60, 60, 240)),
    ("LIQUOR", (235, 235, 235), (40, 40, 40)),
)
STICKER_COLORS: tuple[tuple[BGR, BGR], ...] = (((245, 245, 245), (20, 20, 20)), ((40, 210, 250), (20, 20, 20)),
                                                ((40, 40, 200), (245, 245, 245)), ((140, 60, 20), (245, 245, 245)))


@dataclass(frozen=True)
class Distractor:
    """Text drawn in a scene that is not a plate: ``kind`` is ``road``/``shop``/``bumper``;
    ``box`` (x0, y0, x1, y1) in frame pixels (sprite pixels for a bumper sticker)."""

    text: str
    kind: str
    box: tuple[int, int, int, int]

    def polygon(self) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def render_sign(lines: Sequence[str], width: int, height: int, panel: BGR, ink: BGR, *,
                fonts: tuple[str, ...] = REG_FONTS, border: bool = True) -> np.ndarray:
    """A rectangular sign (BGR uint8) with ``lines`` of text centred on it."""
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = panel
    if border:
        t = max(1, int(round(0.05 * min(width, height))))
        cv2.rectangle(canvas, (t, t), (width - 1 - t, height - 1 - t), tuple(float(c) for c in ink), max(1, t // 2))
    n = max(1, len(lines))
    for i, line in enumerate(lines):
        _blit_text(canvas, line, fonts, ink, width / 2, height * (i + 0.5) / n, 0.86 * width,
                   height * (0.50 if n == 1 else 0.34))
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _paste(img: np.ndarray, sign: np.ndarray, x0: int, y0: int) -> tuple[int, int, int, int]:
    H, W = img.shape[:2]
    h, w = sign.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    img[ya:yb, xa:xb] = sign[ya - y0: yb - y0, xa - x0: xb - x0]
    return xa, ya, xb, yb


def add_scene_distractors(background: np.ndarray, rng: np.random.Generator) -> list[Distractor]:
    """Paint a road sign on a pole and a shop sign on a building into ``background`` (in place).

    The road sign stands high on the left, above passing cars; the shop sign is on a
    building at the right edge, below the speed-limit sign that every scene has. Cars may
    hide them in part; they never cover a plate.
    """
    H, W = background.shape[:2]
    out: list[Distractor] = []
    lines, panel, ink = ROAD_SIGNS[int(rng.integers(len(ROAD_SIGNS)))]
    sw = int(rng.uniform(0.12, 0.17) * W)
    sh = int(rng.uniform(0.075, 0.10) * H * (1.5 if len(lines) > 1 else 1.0))
    sx, sy = int(rng.uniform(0.03, 0.30) * W), int(rng.uniform(0.02, 0.08) * H)
    kerb = int(0.40 * H)
    pole = max(3, W // 200)
    cv2.rectangle(background, (sx + sw // 2 - pole, sy + sh), (sx + sw // 2 + pole, kerb), (90, 90, 90), -1)
    out.append(Distractor(" ".join(lines), "road", _paste(background, render_sign(lines, sw, sh, panel, ink), sx, sy)))
    text, panel, ink = SHOP_SIGNS[int(rng.integers(len(SHOP_SIGNS)))]
    sw = int(rng.uniform(0.11, 0.16) * W)
    sh = int(rng.uniform(0.05, 0.065) * H)
    sx, sy = int(rng.uniform(0.80, 0.86) * W), int(rng.uniform(0.25, 0.27) * H)
    sign = render_sign((text,), sw, sh, panel, ink, fonts=SMALL_FONTS, border=False)
    out.append(Distractor(text, "shop", _paste(background, sign, sx, sy)))
    return out


def add_bumper_sticker(sprite: CarSprite, text: str, side: str, rng: np.random.Generator) -> tuple[CarSprite, Distractor]:
    """A copy of ``sprite`` with a bumper sticker left or right of the plate recess."""
    img = sprite.image.copy()
    h, w = img.shape[:2]
    sw, sh = int(0.22 * w), max(6, int(0.07 * h))
    x0 = int(0.07 * w) if side == "left" else int(0.93 * w) - sw
    y0 = int(rng.uniform(0.82, 0.85) * h)
    panel, ink = STICKER_COLORS[int(rng.integers(len(STICKER_COLORS)))]
    box = _paste(img, render_sign((text,), sw, sh, panel, ink, fonts=REG_FONTS, border=False), x0, y0)
    return replace(sprite, image=img), Distractor(text, "bumper", box)


# lighting of the synthetic-us samples, in turn
SAMPLE_LIGHTING = ("day", "night", "ir", "glare")


class USScene(NamedTuple):
    """One evaluation frame: ``tags`` name its lighting and the hard features on its plate
    and car (``separator``, ``stickers``, ``frame``, ``stacked``, ``bumper sticker``)."""

    name: str
    image: np.ndarray
    plate: str
    state: str
    tags: tuple[str, ...]


def scene_tags(lighting: str, design: object) -> tuple[str, ...]:
    """The tags of a frame with this lighting and plate design (``None``: a plain plate)."""
    tags = [lighting]
    for attr, tag in (("separator", "separator"), ("stickers", "stickers"), ("frame_text", "frame"),
                      ("stacked", "stacked"), ("bumper_text", "bumper sticker")):
        if design is not None and getattr(design, attr):
            tags.append(tag)
    return tuple(tags)


def us_scene_samples(n: int, seed: int = 7) -> Iterator[USScene]:
    """``n`` hard US scenes (:class:`USScene`: name, BGR image, registration, state, tags).

    Each is a frame of its own one-vehicle :class:`~alpr.connectors.camera.synthetic.SyntheticCamera`
    (``us_hard=True``: separators, stickers, frames and stacked codes at random, road and
    shop signs and a bumper sticker in view), with the plate fully in view about midway
    through its passage; lighting cycles day, night, infrared, glare.
    """
    from .synthetic import SyntheticCamera

    for i in range(n):
        mode = SAMPLE_LIGHTING[i % len(SAMPLE_LIGHTING)]
        cam = SyntheticCamera(f"us-{i}", "eval", n_vehicles=1, seed=seed * 100_003 + i, us_hard=True,
                              lighting=mode, lead_in_s=0.0, tail_s=0.0)
        truth = cam.ground_truth()
        if not truth:
            continue
        t = truth[len(truth) // 2]
        img = cv2.imdecode(np.frombuffer(cam.frame(t.seq).data, np.uint8), cv2.IMREAD_COLOR)
        yield USScene(f"synthetic-us-{i:03d}-{mode}", img, t.plate, t.state,
                      scene_tags(mode, cam.designs[t.vehicle_id]))
