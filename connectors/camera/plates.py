"""US-style licence plate rendering and serial generation for the synthetic camera.

A plate is rendered as a ~2:1 BGR image: bold dark registration characters on a light
background, the state name printed small above and an optional slogan below (both
lighter than the registration, as on real plates, so a recogniser learns to read the
registration and ignore the decoration).

The registration string used everywhere else (ground truth, ``random_plate``) is
A-Z/0-9 only, without spaces; :func:`display_text` inserts the state's usual gaps.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:  # pragma: no cover
    from .us_designs import PlateDesign

RGB = Tuple[int, int, int]

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
REG_FONTS = ("DejaVuSansCondensed-Bold.ttf", "DejaVuSans-Bold.ttf")
SMALL_FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf")

_PLATE_RE = re.compile(r"^[A-Z0-9]{1,8}$")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"


@dataclass(frozen=True)
class PlateStyle:
    """How one state's plates look and which serials it issues.

    ``formats`` are display templates: ``L`` a letter, ``D`` a digit, ``' '`` a gap.
    ``excluded`` letters are never generated in serials (``random_plate``).
    """

    code: str
    name: str
    formats: Tuple[str, ...]
    background: RGB
    text: RGB
    header: RGB
    slogan: str = ""
    excluded: str = "IOQ"
    band: Optional[RGB] = None  # a coloured strip behind the slogan (e.g. NY's gold band)

    @property
    def patterns(self) -> Tuple[str, ...]:
        """The formats with gaps removed (what a serial of this state matches)."""
        return tuple(f.replace(" ", "") for f in self.formats)


STATES: dict[str, PlateStyle] = {
    s.code: s
    for s in (
        PlateStyle("CA", "California", ("DLLLDDD",), (246, 246, 244), (22, 34, 112), (178, 34, 40), "dmv.ca.gov"),
        PlateStyle("TX", "TEXAS", ("LLL DDDD",), (244, 243, 238), (18, 18, 22), (40, 40, 48),
                   "THE LONE STAR STATE", excluded="AEIOUQ"),
        PlateStyle("NY", "NEW YORK", ("LLL DDDD",), (247, 246, 240), (24, 38, 104), (24, 38, 104),
                   "EXCELSIOR", band=(236, 178, 60)),
        PlateStyle("FL", "FLORIDA", ("LLL LDD", "LLLLDD"), (246, 246, 242), (12, 84, 46), (220, 110, 20),
                   "SUNSHINE STATE"),
        PlateStyle("WA", "Washington", ("LLLDDDD",), (245, 246, 248), (28, 44, 122), (28, 44, 122),
                   "EVERGREEN STATE"),
        PlateStyle("IL", "Illinois", ("LL DDDDD",), (246, 245, 242), (26, 26, 30), (170, 30, 36),
                   "LAND OF LINCOLN"),
        PlateStyle("NJ", "NEW JERSEY", ("LDD LLL",), (240, 232, 186), (20, 20, 24), (20, 20, 24),
                   "GARDEN STATE"),
    )
}


def _style(state: str) -> PlateStyle:
    try:
        return STATES[state.upper()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown plate state {state!r}; known: {', '.join(sorted(STATES))}") from None


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def normalize_plate(text: str) -> str:
    """Registration without gaps or dashes, upper-cased; ``ValueError`` if not A-Z/0-9."""
    plate = re.sub(r"[\s\-]", "", str(text)).upper()
    if not _PLATE_RE.match(plate):
        raise ValueError(f"plate {text!r} must be 1-8 characters A-Z/0-9 (gaps and dashes allowed)")
    return plate


def _matches(plate: str, pattern: str) -> bool:
    return len(plate) == len(pattern) and all(
        (c in LETTERS) if p == "L" else (c in DIGITS) for c, p in zip(plate, pattern)
    )


def display_text(text: str, state: str, rng: np.random.Generator | int | None = None) -> str:
    """The registration as printed: the state's gaps inserted when ``text`` fits a format.

    Text that already contains spaces is printed as given. Where a state has several
    formats for the same serial (FL ``ABC D12`` / ``ABCD12``) ``rng`` picks one; without
    it the first is used.
    """
    if " " in text.strip():
        return " ".join(text.split()).upper()
    plate = normalize_plate(text)
    fmts = [f for f in _style(state).formats if _matches(plate, f.replace(" ", ""))]
    if not fmts:
        return plate
    fmt = fmts[int(as_rng(rng).integers(len(fmts)))] if (rng is not None and len(fmts) > 1) else fmts[0]
    out, it = [], iter(plate)
    for p in fmt:
        out.append(" " if p == " " else next(it))
    return "".join(out)


def random_plate(state: str, rng: np.random.Generator | int | None = None) -> str:
    """A plausible serial for ``state`` (no gaps), avoiding the state's excluded letters."""
    style = _style(state)
    g = as_rng(rng)
    pattern = style.patterns[int(g.integers(len(style.patterns)))]
    letters = [c for c in LETTERS if c not in style.excluded]
    out = []
    for i, p in enumerate(pattern):
        if p == "L":
            out.append(letters[int(g.integers(len(letters)))])
        elif i == 0:
            out.append(DIGITS[1 + int(g.integers(9))])  # no leading zero
        else:
            out.append(DIGITS[int(g.integers(10))])
    return "".join(out)


@functools.lru_cache(maxsize=64)
def _font(names: Tuple[str, ...], size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in names:
        path = os.path.join(FONT_DIR, name)
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


@functools.lru_cache(maxsize=512)
def _text_mask(text: str, fonts: Tuple[str, ...]) -> np.ndarray:
    """Tight float32 alpha mask (0..1) of ``text`` rendered large."""
    font = _font(fonts, 160)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
    img = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, fill=255, font=font)
    arr = np.asarray(img)
    ys, xs = np.nonzero(arr)
    if len(xs) == 0:
        return np.zeros((1, 1), np.float32)
    return arr[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].astype(np.float32) / 255.0


def _blit_text(canvas: np.ndarray, text: str, fonts: Tuple[str, ...], color: Sequence[float],
               cx: float, cy: float, max_w: float, height: float, opacity: float = 1.0) -> None:
    """Draw ``text`` with its ink ``height`` px tall, centred at (cx, cy), squeezed to ``max_w``."""
    if not text.strip():
        return
    mask = _text_mask(text, fonts)
    mh, mw = mask.shape
    h = max(1, int(round(height)))
    w = max(1, int(round(min(max_w, mw * h / mh))))
    m = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA) * opacity
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    H, W = canvas.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if xa >= xb or ya >= yb:
        return
    m = m[ya - y0: yb - y0, xa - x0: xb - x0, None]
    region = canvas[ya:yb, xa:xb]
    region *= 1.0 - m
    region += m * np.asarray(color, np.float32)


def _rounded_mask(h: int, w: int, r: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.rectangle(m, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(m, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(m, (cx, cy), r, 255, -1, cv2.LINE_AA)
    return m


def render_plate(text: str, state: str, rng: np.random.Generator | int | None = None,
                 *, width: int = 320, design: Optional["PlateDesign"] = None) -> np.ndarray:
    """Render a plate as a BGR uint8 image of ``(width // 2, width, 3)``.

    ``text`` is the registration (A-Z/0-9; gaps optional, inserted per state when absent).
    ``rng`` (a Generator or an int seed) adds small realistic variation (tint, dirt,
    ink colour, offsets); ``None`` renders the clean canonical plate. The corners outside
    the rounded plate are mid grey (a camera sees the plate's mounting behind them).
    ``design`` (a :class:`~alpr.connectors.camera.us_designs.PlateDesign`) adds separators,
    stickers, a frame and a stacked code; ``None`` draws the plain plate.
    """
    style = _style(state)
    if width < 40:
        raise ValueError(f"plate width {width} too small (min 40 px)")
    g = as_rng(rng) if rng is not None else None
    shown = display_text(text, state, g)
    ss = 2  # supersample
    W, H = width * ss, (width // 2) * ss

    def jit(scale: float, n: int = 1) -> np.ndarray:
        return g.uniform(-scale, scale, n) if g is not None else np.zeros(n)

    bg = np.clip(np.asarray(style.background, np.float32) + jit(6.0, 3), 0, 255)
    canvas = np.empty((H, W, 3), np.float32)
    canvas[:] = bg
    # gentle lighting gradient across the plate
    grad = 1.0 + jit(0.06)[0] * np.linspace(-1.0, 1.0, W, dtype=np.float32)
    canvas *= grad[None, :, None]

    if style.band is not None:
        y0 = int(0.80 * H)
        canvas[y0: int(0.97 * H)] = np.asarray(style.band, np.float32)

    ink = np.clip(np.asarray(style.text, np.float32) + jit(10.0, 3), 0, 255)
    dy = jit(0.015)[0] * H
    # registration: cap height ~46% of the plate height, as on a 12x6 in plate
    if design is None:
        _blit_text(canvas, shown, REG_FONTS, ink, W / 2 + jit(0.01)[0] * W, 0.53 * H + dy, 0.84 * W, 0.45 * H)
    else:
        design.draw_registration(canvas, shown, ink, W / 2 + jit(0.01)[0] * W, 0.53 * H + dy, 0.84 * W, 0.45 * H)
    # state name: small, lighter
    light = 0.35
    head_col = np.asarray(style.header, np.float32) * (1 - light) + bg * light
    _blit_text(canvas, style.name, SMALL_FONTS, head_col, W / 2, 0.15 * H, 0.55 * W, 0.11 * H)
    if style.slogan:
        slog_col = np.asarray(style.text, np.float32) * 0.5 + bg * 0.5
        _blit_text(canvas, style.slogan, SMALL_FONTS, slog_col, W / 2, 0.885 * H, 0.6 * W, 0.065 * H)

    # bolt holes in the header band
    for bx in (0.12, 0.88):
        cv2.circle(canvas, (int(bx * W), int(0.13 * H)), max(2, int(0.025 * H)),
                   tuple(float(c) * 0.55 for c in bg), -1, cv2.LINE_AA)

    if g is not None:  # a little dirt: faint blotches
        for _ in range(int(g.integers(0, 5))):
            c = (int(g.uniform(0, W)), int(g.uniform(0, H)))
            r = int(g.uniform(0.02, 0.08) * H)
            overlay = canvas.copy()
            cv2.circle(overlay, c, r, tuple(float(v) * 0.8 for v in bg), -1, cv2.LINE_AA)
            a = float(g.uniform(0.1, 0.3))
            canvas = cv2.addWeighted(overlay, a, canvas, 1 - a, 0)

    # rounded border
    r = int(0.07 * H)
    border_col = tuple(float(c) for c in np.asarray(style.text, np.float32) * 0.6 + bg * 0.4)
    t = max(2, int(0.018 * H))
    inner = _rounded_mask(H - 2 * t, W - 2 * t, max(1, r - t))
    outer = _rounded_mask(H, W, r)
    plate = np.empty_like(canvas)
    plate[:] = (120.0, 120.0, 120.0)
    np.copyto(plate, np.asarray(border_col, np.float32), where=(outer > 0)[:, :, None])
    np.copyto(plate[t: H - t, t: W - t], canvas[t: H - t, t: W - t], where=(inner > 0)[:, :, None])

    if design is not None:
        design.decorate(plate)
    rgb = np.clip(plate, 0, 255).astype(np.uint8)
    out = cv2.resize(rgb, (width, width // 2), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out[:, :, ::-1])  # RGB -> BGR
