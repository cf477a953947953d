"""Harder US plate designs for the synthetic camera: what real US plates add around the registration.

A :class:`PlateDesign` is passed to :func:`~alpr.connectors.camera.plates.render_plate`
(``design=``) and adds, on top of the state name and slogan:

- a **separator** between two character groups: a wider ``gap``, a ``dot`` (``•``), a
  ``dash``, or an emblem (a state ``outline``, a ``shield`` as on Maryland plates, a ``heart``);
- **registration stickers** (month and year) in the plate's corners;
- a **plate frame** with dealer text (``SMITH TOYOTA``) along the bottom or top border;
- a **stacked type code**: two small letters one above the other at one end.

None of these is part of the registration: the ground truth stays the serial only. Every
choice is made once by :func:`random_design` from a seeded generator and stored in the
(frozen) design, so drawing it needs no randomness and a seed always gives the same plate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence, Tuple

import cv2
import numpy as np

from .plates import REG_FONTS, SMALL_FONTS, _blit_text, _style, _text_mask, as_rng, normalize_plate

RGB = Tuple[int, int, int]

SEPARATORS = ("gap", "dot", "dash", "outline", "shield", "heart")
EMBLEMS = ("outline", "shield", "heart")
#: The hard features a camera can switch on (``SyntheticCamera(us_hard=...)``).
FEATURES = ("separators", "stickers", "frames", "stacked", "distractors")
DEALERS = ("SMITH TOYOTA", "VALLEY FORD", "CAPITOL HONDA", "SUNSET NISSAN", "METRO CHEVROLET",
           "BAY AREA KIA", "DOWNTOWN MAZDA", "CAL AUTO MALL", "PENSKE", "RESIDENT AUTO")
BUMPER_TEXTS = ("RESIDENT", "THIS AREA", "HONK", "COEXIST", "GO BEARS", "STUDENT DRIVER", "BABY ON BOARD",
                "SURF CITY", "NO FEAR", "MY KID IS AN HONOR STUDENT")
STACK_CODES = ("TK", "DV", "MC", "TR", "CM", "PU", "AP", "HC", "SP", "VT")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
STICKER_COLORS: Tuple[RGB, ...] = ((236, 196, 40), (40, 120, 210), (220, 60, 60), (60, 170, 90),
                                   (240, 130, 30), (150, 70, 170))
FRAME_COLORS: Tuple[Tuple[RGB, RGB], ...] = (((18, 18, 20), (235, 235, 235)), ((175, 176, 182), (30, 30, 34)),
                                             ((20, 32, 80), (230, 230, 230)), ((110, 20, 24), (240, 220, 160)))
# separator widths in plate heights
_SEP_W = {"gap": 0.18, "dot": 0.17, "dash": 0.22, "outline": 0.34, "shield": 0.30, "heart": 0.32}
# emblem outlines in a unit box (x right, y down)
_SHIELD = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.55), (0.5, 1.0), (0.0, 0.55))
_OUTLINE = ((0.08, 0.0), (0.46, 0.0), (0.46, 0.36), (0.98, 0.82), (0.94, 1.0), (0.62, 0.98),
            (0.52, 0.80), (0.24, 0.58), (0.14, 0.34), (0.02, 0.18))


@dataclass(frozen=True)
class Sticker:
    """A registration sticker: ``corner`` is ``tl``/``tr``/``bl``/``br``; ``lines`` its text."""

    corner: str
    lines: Tuple[str, ...]
    color: RGB


@dataclass(frozen=True)
class PlateDesign:
    """What a US plate shows besides the registration (see the module docstring).

    ``split`` is the number of registration characters before the ``separator``
    (``""``: none). ``stacked`` is a two-letter type code drawn one letter above the
    other at the ``stacked_side`` end; ``bumper_text`` is a bumper sticker on the car
    (drawn by the scene, not on the plate).
    """

    separator: str = ""
    split: int = 0
    stickers: Tuple[Sticker, ...] = ()
    frame_text: str = ""
    frame_edge: str = "bottom"
    frame_colors: Tuple[RGB, RGB] = FRAME_COLORS[0]
    stacked: str = ""
    stacked_side: str = "left"
    emblem_color: RGB = (0, 0, 0)
    bumper_text: str = ""
    bumper_side: str = "left"

    # ---------------------------------------------------------------- drawing
    def draw_registration(self, canvas: np.ndarray, text: str, ink: Sequence[float], cx: float, cy: float,
                          max_w: float, height: float) -> None:
        """Draw the registration ``text`` (as printed, with the state's gaps; groups,
        separator and stacked code per the design) centred at (cx, cy)."""
        plate = normalize_plate(text)
        H = canvas.shape[0]
        cut = self.split if self.separator and 0 < self.split < len(plate) else 0
        groups = [plate[:cut], plate[cut:]] if cut else [" ".join(text.split())]
        natural = []
        for grp in groups:
            mh, mw = _text_mask(grp, REG_FONTS).shape
            natural.append(mw * height / mh)
        sep_w = _SEP_W[self.separator] * H if cut else 0.0
        stack_w = 0.27 * H if self.stacked else 0.0
        scale = min(1.0, max(0.2, (max_w - sep_w - stack_w) / sum(natural)))
        widths = [w * scale for w in natural]
        x = cx - (sum(widths) + sep_w + stack_w) / 2
        if self.stacked and self.stacked_side == "left":
            self._draw_stack(canvas, ink, x + 0.10 * H, cy, height)
            x += stack_w
        for i, (grp, w) in enumerate(zip(groups, widths)):
            _blit_text(canvas, grp, REG_FONTS, ink, x + w / 2, cy, w, height)
            x += w
            if i == 0 and cut:
                self._draw_separator(canvas, ink, x + sep_w / 2, cy, sep_w, height)
                x += sep_w
        if self.stacked and self.stacked_side == "right":
            self._draw_stack(canvas, ink, x + 0.17 * H, cy, height)

    def _draw_stack(self, canvas: np.ndarray, ink: Sequence[float], cx: float, cy: float, height: float) -> None:
        small = 0.42 * height
        for ch, dy in zip(self.stacked[:2], (-0.27 * height, 0.27 * height)):
            _blit_text(canvas, ch, REG_FONTS, ink, cx, cy + dy, 0.6 * height, small)

    def _draw_separator(self, canvas: np.ndarray, ink: Sequence[float], cx: float, cy: float, w: float,
                        height: float) -> None:
        color = tuple(float(c) for c in ink)
        kind = self.separator
        if kind == "dot":
            cv2.circle(canvas, (int(cx), int(cy)), max(2, int(0.11 * height)), color, -1, cv2.LINE_AA)
        elif kind == "dash":
            hw, hh = 0.30 * w, max(2.0, 0.07 * height)
            cv2.rectangle(canvas, (int(cx - hw), int(cy - hh)), (int(cx + hw), int(cy + hh)), color, -1)
        elif kind in EMBLEMS:
            emb = tuple(float(c) for c in self.emblem_color)
            bw, bh = 0.80 * w, 0.78 * height
            x0, y0 = cx - bw / 2, cy - bh / 2
            if kind == "heart":
                r = bw / 4
                for ox in (x0 + r, x0 + 3 * r):
                    cv2.circle(canvas, (int(ox), int(y0 + r)), int(r), emb, -1, cv2.LINE_AA)
                tri = np.array([[x0, y0 + r * 1.2], [x0 + bw, y0 + r * 1.2], [cx, y0 + bh]], np.int32)
                cv2.fillConvexPoly(canvas, tri, emb, cv2.LINE_AA)
            else:
                unit = _SHIELD if kind == "shield" else _OUTLINE
                pts = np.array([[x0 + u * bw, y0 + v * bh] for u, v in unit], np.int32)
                cv2.fillPoly(canvas, [pts], emb, cv2.LINE_AA)
                if kind == "shield":  # quartered, as on a coat of arms
                    light = tuple(float(c) * 0.35 + 160 for c in emb)
                    t = max(1, int(0.05 * bw))
                    cv2.line(canvas, (int(cx), int(y0)), (int(cx), int(y0 + 0.9 * bh)), light, t)
                    cv2.line(canvas, (int(x0), int(y0 + 0.4 * bh)), (int(x0 + bw), int(y0 + 0.4 * bh)), light, t)

    def decorate(self, plate: np.ndarray) -> None:
        """Stickers, then the frame, drawn over the finished plate (RGB float, supersampled)."""
        H, W = plate.shape[:2]
        for st in self.stickers:
            sw, sh = 0.26 * H, 0.20 * H
            x0 = 0.045 * W if st.corner[1] == "l" else W - 0.045 * W - sw
            y0 = 0.045 * H if st.corner[0] == "t" else H - 0.045 * H - sh
            cv2.rectangle(plate, (int(x0), int(y0)), (int(x0 + sw), int(y0 + sh)),
                          tuple(float(c) for c in st.color), -1)
            dark = (20.0, 20.0, 24.0)
            n = len(st.lines)
            for i, line in enumerate(st.lines):
                _blit_text(plate, line, SMALL_FONTS, dark, x0 + sw / 2, y0 + sh * (i + 0.5) / n, 0.85 * sw,
                           sh * (0.55 if n == 1 else 0.36))
        if self.frame_text:
            frame_col, text_col = (tuple(float(c) for c in col) for col in self.frame_colors)
            side, thin, wide = int(0.035 * W), int(0.05 * H), int(0.16 * H)
            top_h, bot_h = (wide, thin) if self.frame_edge == "top" else (thin, wide)
            mask = np.ones((H, W), bool)
            mask[top_h: H - bot_h, side: W - side] = False
            plate[mask] = frame_col
            ty = top_h / 2 if self.frame_edge == "top" else H - bot_h / 2
            _blit_text(plate, self.frame_text, SMALL_FONTS, text_col, W / 2, ty, 0.7 * W, 0.55 * wide)


def _split_point(plate: str, state: str) -> int:
    """Where a separator goes: the state's own gap, else the last letter/digit change."""
    for fmt in _style(state).formats:
        if " " in fmt and len(fmt.replace(" ", "")) == len(plate):
            return fmt.index(" ")
    changes = [i for i in range(2, len(plate)) if plate[i].isdigit() != plate[i - 1].isdigit()]
    return changes[-1] if changes else len(plate) // 2


def random_design(plate: str, state: str, rng: np.random.Generator | int | None,
                  features: Iterable[str] = FEATURES, *, always: bool = False) -> PlateDesign:
    """A design for ``plate`` with the given ``features`` (see :data:`FEATURES`).

    Each feature appears with a fixed probability (a separator 65%, stickers 70%, a frame
    55%, a stacked code 40%, a bumper sticker 50%), or on every plate with ``always``.
    The same generator state always gives the same design; the draws do not depend on
    ``features``, so switching a feature off leaves the others as they were.
    """
    feats = set(features)
    unknown = feats - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown US plate features {sorted(unknown)}; known: {', '.join(FEATURES)}")
    plate = normalize_plate(plate)
    g = as_rng(rng)
    u = g.random(5)
    on = [always or u[i] < p for i, p in enumerate((0.65, 0.70, 0.55, 0.40, 0.50))]
    sep = SEPARATORS[int(g.integers(len(SEPARATORS)))]
    style = _style(state)
    emblem = style.header if g.random() < 0.6 else STICKER_COLORS[int(g.integers(len(STICKER_COLORS)))]
    month, year = int(g.integers(12)), int(g.integers(24, 30))
    colors = [STICKER_COLORS[int(k)] for k in g.permutation(len(STICKER_COLORS))[:2]]
    layout = int(g.integers(3))
    stickers = (
        (Sticker("tl", (MONTHS[month],), colors[0]), Sticker("tr", (f"{year:02d}",), colors[1])),
        (Sticker("tr", (MONTHS[month], f"{year:02d}"), colors[0]),),
        (Sticker("br", (str(month + 1), f"{year:02d}"), colors[0]),),
    )[layout]
    dealer = DEALERS[int(g.integers(len(DEALERS)))]
    edge = "bottom" if g.random() < 0.75 else "top"
    frame_colors = FRAME_COLORS[int(g.integers(len(FRAME_COLORS)))]
    code = STACK_CODES[int(g.integers(len(STACK_CODES)))]
    stack_side = "left" if g.random() < 0.6 else "right"
    bumper = BUMPER_TEXTS[int(g.integers(len(BUMPER_TEXTS)))]
    bumper_side = "left" if g.random() < 0.5 else "right"
    return PlateDesign(
        separator=sep if on[0] and "separators" in feats else "",
        split=_split_point(plate, state) if on[0] and "separators" in feats else 0,
        stickers=stickers if on[1] and "stickers" in feats else (),
        frame_text=dealer if on[2] and "frames" in feats else "",
        frame_edge=edge, frame_colors=frame_colors,
        stacked=code if on[3] and "stacked" in feats else "",
        stacked_side=stack_side, emblem_color=tuple(int(c) for c in emblem),  # type: ignore[arg-type]
        bumper_text=bumper if on[4] and "distractors" in feats else "", bumper_side=bumper_side,
    )
