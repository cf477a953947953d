"""Test images for the plate recogniser, drawn in the test itself (no data files)."""

from __future__ import annotations

import os

import cv2
import numpy as np

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def plate_image(text: str, width: int = 220) -> np.ndarray:
    """Black ``text`` on a white plate with a dark border (BGR uint8, about 4.4:1)."""
    height = width * 2 // 9
    plate = np.full((height, width, 3), 245, np.uint8)
    cv2.rectangle(plate, (1, 1), (width - 2, height - 2), (30, 30, 30), 2)
    if os.path.exists(FONT):
        from PIL import Image, ImageDraw, ImageFont

        img = Image.fromarray(plate)
        font = ImageFont.truetype(FONT, int(height * 0.7))
        draw = ImageDraw.Draw(img)
        l, t, r, b = draw.textbbox((0, 0), text, font=font)
        draw.text(((width - (r - l)) / 2 - l, (height - (b - t)) / 2 - t), text, fill=(15, 15, 15), font=font)
        return np.asarray(img).copy()
    scale = height / 32.0
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 3)
    cv2.putText(plate, text, ((width - tw) // 2, (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (15, 15, 15), 3)
    return plate


def scene(text: str, size: tuple[int, int] = (480, 640), at: tuple[int, int] = (300, 200),
          width: int = 220, seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A grey, slightly noisy scene with one plate pasted at ``at`` (x, y).

    Returns the image and the plate's box ``(x0, y0, x1, y1)``.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.clip(rng.normal(110, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    plate = plate_image(text, width)
    x, y = at
    ph, pw = plate.shape[:2]
    img[y : y + ph, x : x + pw] = plate
    return img, (x, y, x + pw, y + ph)
