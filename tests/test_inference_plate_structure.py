"""Plate structure on US designs: a blue plate is not an EU country band, a stacked type code
beside the registration is not part of it, labels beside the registration are not plates of
their own, and a weakly read mark at an end does not extend the plate. Images are drawn here."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from alpr.inference import plates
from alpr.inference.recognizer import PlateRecognizer

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
needs_font = pytest.mark.skipif(not os.path.exists(FONT), reason="DejaVu font missing")


@pytest.fixture(scope="module")
def recognizer() -> PlateRecognizer:
    return PlateRecognizer(topn=10)


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT, size)


def us_plate(main: str, *, bg=(245, 245, 240), ink=(15, 15, 15), stacked: str = "", label: str = "",
             header: str = "", width: int = 320) -> np.ndarray:
    """A 2:1 US plate: ``main`` in large type; optionally a two-letter ``stacked`` code at the
    left (one small letter above the other), a two-line small ``label`` at the left, a header."""
    h = width // 2
    img = Image.new("RGB", (width, h), bg)
    d = ImageDraw.Draw(img)
    d.rectangle([1, 1, width - 2, h - 2], outline=(30, 30, 30), width=3)
    if header:
        d.text((width * 0.3, h * 0.04), header, font=_font(int(h * 0.13)), fill=(170, 30, 30))
    x = width * 0.08
    if stacked:
        small = _font(int(h * 0.24))
        d.text((x, h * 0.22), stacked[0], font=small, fill=ink)
        d.text((x, h * 0.5), stacked[1], font=small, fill=ink)
        x += width * 0.12
    if label:
        small = _font(int(h * 0.09))
        for k, word in enumerate(label.split()):
            d.text((x, h * (0.4 + 0.12 * k)), word, font=small, fill=ink)
        x += width * 0.22
    size = int(h * 0.5)
    while d.textbbox((0, 0), main, font=_font(size))[2] > width * 0.94 - x:
        size -= 2  # shrink until the registration fits inside the plate
    d.text((x, h * 0.2), main, font=_font(size), fill=ink)
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def eu_line(text: str, width: int = 300) -> np.ndarray:
    """A white EU plate line with a blue country band (a small ``D``) at the left."""
    h = width // 5
    img = Image.new("RGB", (width, h), (245, 245, 245))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, int(h * 0.45), h], fill=(160, 50, 10)[::-1])  # RGB blue band
    d.text((h * 0.1, h * 0.55), "D", font=_font(int(h * 0.3)), fill=(240, 240, 240))
    d.text((h * 0.6, h * 0.12), text, font=_font(int(h * 0.7)), fill=(15, 15, 15))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


@needs_font
def test_a_blue_plate_is_not_a_country_band():
    blue = us_plate("421774", bg=(20, 50, 140), ink=(250, 210, 60))
    line = blue[30:120, 10:]  # the registration's line as the detector crops it
    assert plates.band_width(line) == 0
    # a real band on a white EU plate is still found
    assert plates.band_width(eu_line("B MW 1234")) > 0


@needs_font
def test_a_blue_plate_keeps_its_first_character(recognizer):
    got = recognizer.recognize(us_plate("421774", bg=(20, 50, 140), ink=(250, 210, 60)))
    assert got and got[0].plate == "421774"


@needs_font
def test_a_stacked_type_code_beside_the_registration_is_not_read_into_it(recognizer):
    got = recognizer.recognize(us_plate("2515", stacked="BR", header="MASSACHUSETTS"))
    assert got, "the plate was not found"
    assert got[0].plate == "2515", [p.plate for p in got]
    # the code is not a plate of its own either
    assert [p.plate for p in got] == ["2515"]


@needs_font
def test_a_label_beside_the_registration_is_not_a_plate_of_its_own(recognizer):
    got = recognizer.recognize(us_plate("3887", label="FIRE FIGHTER"))
    assert [p.plate for p in got] == ["3887"]


def test_small_ends_drops_only_stacked_pairs_at_the_ends():
    tall = (80.0, 0.0)
    pair = (36.0, 78.0)  # small, with a similar blob stacked over it spanning the line
    broken = (30.0, 0.0)  # small but alone: a character broken by blur, kept
    assert plates.small_ends([pair, tall, tall, tall, tall]) == (1, 0)
    assert plates.small_ends([tall, tall, tall, tall, pair]) == (0, 1)
    assert plates.small_ends([broken, tall, tall, tall, tall]) == (0, 0)
    assert plates.small_ends([tall, tall, pair, tall, tall]) == (0, 0)  # never from the middle
    # too coarse to tell (tiny characters): nothing is dropped
    assert plates.small_ends([(8.0, 20.0), (20.0, 0.0), (20.0, 0.0), (20.0, 0.0)]) == (0, 0)
    # at least three characters always remain
    assert plates.small_ends([pair, pair, tall, tall, tall]) == (2, 0)
    assert plates.small_ends([pair, pair, tall, tall]) == (1, 0)


@needs_font
def test_a_vanity_plate_crop_is_spelt_the_ncic_way_a_word_in_a_scene_is_not(recognizer):
    """A 2:1 plate crop is a US plate: its vanity text is spelt with zeros, as NCIC enters it
    (hotlists treat O and 0 as equal either way). Without that cue (or a hint) a word-like
    reading keeps its letter O, as another country's plate would."""
    crop = us_plate("COUGAR")
    assert [p.plate for p in recognizer.recognize(crop)] == ["C0UGAR"]
    wide = np.full((crop.shape[0], crop.shape[1] * 3, 3), 245, np.uint8)
    wide[:, crop.shape[1]:2 * crop.shape[1]] = crop
    wide = cv2.resize(wide, (wide.shape[1] * 2, wide.shape[0] * 2))  # a bigger, non-plate-shaped image
    assert [p.plate for p in recognizer.recognize(wide)] == ["COUGAR"]
    assert [p.plate for p in PlateRecognizer(country="us").recognize(wide)] == ["C0UGAR"]
