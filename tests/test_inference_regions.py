"""Jurisdiction-aware decoding (US state formats, state cues, decorations) and plate finding
in scenes with distractor text. Images are drawn in the tests; no data files."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from alpr.inference import regions
from alpr.inference.recognizer import PlateRecognizer

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
needs_font = pytest.mark.skipif(not os.path.exists(FONT), reason="DejaVu font missing")


@pytest.fixture(scope="module")
def recognizer() -> PlateRecognizer:
    return PlateRecognizer(topn=10)


def _text(draw: ImageDraw.ImageDraw, xy, text: str, size: int, fill) -> None:
    draw.text(xy, text, font=ImageFont.truetype(FONT, size), fill=fill)


def emblem_plate(left: str, right: str, header: str = "MARYLAND", width: int = 360) -> np.ndarray:
    """A US plate: state name above, ``left`` <shield emblem> ``right``, slogan below."""
    h = width // 2
    img = Image.new("RGB", (width, h), (245, 245, 240))
    d = ImageDraw.Draw(img)
    d.rectangle([1, 1, width - 2, h - 2], outline=(30, 30, 30), width=3)
    _text(d, (width * 0.33, h * 0.04), header, int(h * 0.13), (170, 30, 30))
    _text(d, (width * 0.07, h * 0.3), left, int(h * 0.34), (15, 15, 15))
    cx, cy, r = width * 0.47, h * 0.5, h * 0.13  # the shield between the groups
    d.polygon([(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + 0.2 * r), (cx, cy + 1.3 * r),
               (cx - r, cy + 0.2 * r)], fill=(180, 40, 40), outline=(20, 20, 20))
    _text(d, (width * 0.56, h * 0.3), right, int(h * 0.34), (15, 15, 15))
    _text(d, (width * 0.3, h * 0.84), "dmv.md.gov", int(h * 0.1), (90, 90, 90))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def street(plate: np.ndarray, sign: str | None = "EXIT 798", seed: int = 0) -> np.ndarray:
    """A 640x480 grey scene: the plate low in the middle, a green road sign high on the left."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(105, 10, (480, 640, 3)), 0, 255).astype(np.uint8)
    ph, pw = plate.shape[:2]
    img[290 : 290 + ph, 200 : 200 + pw] = plate
    if sign:
        pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        d = ImageDraw.Draw(pil)
        d.rectangle([30, 30, 330, 130], fill=(20, 110, 60), outline=(240, 240, 240), width=4)
        _text(d, (55, 50), sign, 56, (245, 245, 245))
        img = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    return img


@needs_font
def test_maryland_style_plate_with_emblem_between_groups_reads_as_one_plate(recognizer):
    plates = recognizer.recognize(emblem_plate("4CX", "5612"))
    assert plates, "no plate found"
    assert plates[0].plate == "4CX5612"
    # the emblem never becomes a character, the state name and slogan never a plate of their own
    assert not any(regions.is_decoration(p.plate) for p in plates)
    assert all(p.plate != "MARYLAND" for p in plates)


@needs_font
def test_road_sign_is_not_returned_as_a_plate(recognizer):
    plates = recognizer.recognize(street(emblem_plate("7AB", "C123", header="CALIFORNIA")))
    texts = [p.plate for p in plates]
    assert texts and texts[0] == "7ABC123", texts
    assert not any("EXIT" in t or t.startswith("798") for t in texts), texts


def test_state_names_slogans_and_stickers_are_decorations():
    for text in ("WY0MING", "1NDIANA", "ALA8AMA", "VERM0NT", "FEB2002", "APR12", "2008", "TOYOTA", "CITR0EN",
                 "DMVCAGOV", "EXPLORE", "EX1T798", "14MILE", "N0RTH", "PENSKE", "THISAREA",
                 "SUSARU", "T0Y0TA", "CHEVR0LE"):  # badges misread by one character too
        assert regions.is_decoration(text), text
    for text in ("7ABC123", "4TAZ530", "NOX218", "CUST0M", "BTP882", "ABC1234"):
        assert not regions.is_decoration(text), text


def test_state_cues_name_the_state():
    assert regions.cue_state("CALIFORNIA")[0] == "CA"
    assert regions.cue_state("DMVCAGOV")[0] == "CA"
    assert regions.cue_state("WY0MING")[0] == "WY"
    assert regions.cue_state("7ABC123") is None


def test_formats_rerank_position_by_position_and_keep_every_candidate():
    cands = [("LTAZ530", 91.0), ("4TAZ530", 77.0), ("LTAZ5S0", 60.0)]
    out = regions.rerank(cands, "CA")
    assert out[0][0] == "4TAZ530"  # California: digit, three letters, three digits
    assert {t for t, _ in out} == {t for t, _ in cands}  # the matcher still sees the demoted ones
    # without a state a confident reading is not overturned by the national mixture of formats
    assert regions.rerank([("KZ42817", 92.0), ("KZ4Z817", 84.0)], None)[0][0] == "KZ42817"


def test_ncic_spelling_of_letter_o():
    assert regions.us_text("CUSTOM", None) == "CUST0M"  # vanity plate: O is written as zero
    assert regions.us_text("NOX218", "AR") == "NOX218"  # a letter position of the state's format


def test_state_guess_from_hint_cue_and_format():
    assert regions.guess_state({}, "7ABC123", "ca") == ("CA", 100.0)
    code, conf = regions.guess_state({"TX": 1.0}, "ABC1234")
    assert code == "TX" and conf >= 90
    code, conf = regions.guess_state({}, "7ABC123")
    assert code == "CA" and 0 < conf <= 100
    assert regions.guess_state({}, "ZZZZZZZZ") == ("", 0.0)


def test_foreign_formats_keep_generic_decoding():
    assert regions.looks_foreign("RK755AJ") and regions.looks_foreign("ABC1D23")
    assert not regions.looks_foreign("7ABC123")


@needs_font
def test_hint_sets_region_and_every_plate_carries_its_models():
    rec = PlateRecognizer(topn=5, state="ca")
    plates = rec.recognize(street(emblem_plate("7AB", "C123", header="CALIFORNIA"), sign=None))
    assert plates and plates[0].region == "us-ca" and plates[0].region_confidence == 100.0
    assert plates[0].detector.startswith("ppocrv4-det@sha256:") and len(plates[0].detector.split(":")[1]) == 12
    assert plates[0].recognizer.startswith("ppocrv4-rec@sha256:")
    prov = rec.provenance()
    assert prov["us_formats"] == regions.table()[0] and prov["detector"] == plates[0].detector


def test_unknown_state_hint_is_refused():
    with pytest.raises(ValueError, match="unknown US state"):
        PlateRecognizer(state="zz")


@needs_font
def test_a_state_cue_counts_only_where_it_is_printed_on_the_plate(recognizer):
    """A badge elsewhere on the car (EXPLORER, one edit from Minnesota's slogan EXPLORE
    MINNESOTA) is no state cue; the same text printed under the registration is."""
    def car(slogan_xy) -> np.ndarray:
        rng = np.random.default_rng(4)
        img = Image.fromarray(np.clip(rng.normal(105, 10, (480, 640, 3)), 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        d.rectangle([300, 280, 560, 410], fill=(245, 245, 240), outline=(30, 30, 30), width=3)
        _text(d, (318, 310), "4ABC123", 50, (15, 15, 15))
        d.rectangle([40, 300, 230, 340], fill=(245, 245, 240))
        _text(d, slogan_xy, "EXPLORER", 20, (60, 60, 60))
        return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)

    badge = recognizer.recognize(car((60, 308)))
    assert badge and badge[0].plate == "4ABC123", [p.plate for p in badge]
    assert badge[0].region != "us-mn"
    printed = recognizer.recognize(car((370, 375)))
    assert printed and printed[0].plate == "4ABC123", [p.plate for p in printed]
    assert printed[0].region == "us-mn"
