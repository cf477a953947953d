"""Licence-plate recogniser: PP-OCRv4 text detection + recognition with plate-specific rules.

``PlateRecognizer.recognize(image_bgr)`` returns the plates found in one BGR ``uint8`` image,
best first; ``recognize_batch`` does the same for many images, batching the networks.

Steps: the detector runs on the frame scaled to ``det_long_side`` (small images are
upscaled at most ``det_max_upscale`` times); DB boxes on one text line are merged (the parts
are read as well); each line is perspective-cropped from the full-resolution frame with a
small margin and read by the recogniser (fixed width buckets, so batching never changes a
result); CTC decoding is folded into ``A-Z0-9`` + separator (:mod:`.decoding`); characters on
a blue country band at the left are dropped (:mod:`.plates`); top-N candidates come from the
per-character alternatives, letter/digit look-alikes and drops, scored by confidence times a
generic plate-structure prior; two stacked rows form a two-row plate; a reading containing
an overlapping reading's text supersedes it, and overlapping readings are suppressed.
Small plate-shaped images (plate crops) are also read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import geometry as geo
from .backends import InferenceBackend, OnnxBackend, model_ids
from . import plates as rules
from . import regions
from .decoding import DecodedChar, candidates, ctc_decode, fold_matrix, fold_probs
from .images import MAX_SIDE, MIN_SIDE, FrameDecodeError, decode_image, validate_image
from .selection import Reading, RecognizedPlate, Selector

__all__ = ["MAX_SIDE", "MIN_SIDE", "FrameDecodeError", "PlateRecognizer", "RecognizedPlate", "decode_image",
           "validate_image"]

#: line crops are padded by these fractions of the line height at each end / top and bottom, so
#: the first and last characters are never clipped
PAD_X, PAD_Y = 0.12, 0.08
#: the best WIDE_LINES plate-like lines of an image are read again padded by these heights
WIDE_LINES, WIDE_PAD, US_PAD = 2, 0.9, 0.25
@dataclass
class _Line:
    """A text line to read: which image, the quad, and how it was formed."""

    image: int
    quad: np.ndarray
    det_score: float
    parts: int  # number of detector boxes merged into it (0 = whole-image fallback)
    pad: float = PAD_X  # crop padding at each end, in line heights
    origin: str = ""  # wide re-read: the text read with the normal padding
    crop: np.ndarray | None = None
    width: int = 0


#: a plate-length reading this confident ends the search of its image after the first pass
SURE_CONFIDENCE = 90.0


def _sure(plates: list[RecognizedPlate]) -> bool:
    return any(p.confidence >= SURE_CONFIDENCE and 5 <= len(p.plate) <= 8 for p in plates)


def _refines(r: Reading, first: list[Reading]) -> bool:
    """A finer reading of text the first pass already read."""
    return any(rules.overlap(r.quad, o.quad) > 0.3 for o in first)


def _plate_like(text: str) -> bool:
    """What the finer pass may add on its own: plate-length text mixing letters and digits (the
    finer look also reaches small sign text, SPEED LIMIT, that the first pass rightly missed)."""
    return 5 <= len(text) <= 8 and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


class PlateRecognizer:
    """Finds and reads licence plates. Not thread-safe: use one per worker thread."""

    def __init__(
        self,
        backend: InferenceBackend | None = None,
        topn: int = 10,
        det_long_side: int = 736,
        fine_long_side: int = 1280,
        det_max_upscale: float = 4.0,
        det_thresh: float = 0.3,
        box_thresh: float = 0.5,
        unclip_ratio: float = 1.6,
        min_char_height: float = 8.0,
        min_confidence: float = 50.0,
        max_plates: int = 8,
        rec_batch_size: int = 8,
        crop_fallback: bool = True,
        country: str | None = "auto",
        state: str | None = None,
    ) -> None:
        if topn < 1:
            raise ValueError(f"topn must be >= 1, got {topn}")
        if det_long_side < 64:
            raise ValueError(f"det_long_side must be >= 64, got {det_long_side}")
        self.backend: InferenceBackend = backend if backend is not None else OnnxBackend()
        self.topn = topn
        self.det_long_side = det_long_side
        self.fine_long_side = fine_long_side if fine_long_side > det_long_side else 0
        self.det_max_upscale = det_max_upscale
        self.det_thresh = det_thresh
        self.box_thresh = box_thresh
        self.unclip_ratio = unclip_ratio
        self.min_char_height = min_char_height
        self.min_confidence = min_confidence
        self.max_plates = max_plates
        self.rec_batch_size = rec_batch_size
        self.crop_fallback = crop_fallback
        self.country = (country or "auto").lower()
        self.state = state.upper() if state else None
        if self.state and self.country == "auto":
            self.country = "us"
        if self.state and self.state not in regions.table()[1]:
            raise ValueError(f"unknown US state {state!r}")
        self._fold = fold_matrix(list(self.backend.charset))
        self._models = model_ids(self.backend)
        self._selector = Selector(self.country, self.state, min_confidence, max_plates, self._models)

    def provenance(self) -> dict[str, str]:
        """Detector and recogniser names with checksums/versions, and the US format table version."""
        prov = getattr(self.backend, "provenance", None)
        out = dict(prov()) if callable(prov) else {}
        out.setdefault("detector", self._models[0])
        out.setdefault("recognizer", self._models[1])
        out["us_formats"] = regions.table()[0]
        return out

    # ------------------------------------------------------------------ public API
    def recognize(self, image_bgr: np.ndarray) -> list[RecognizedPlate]:
        """Plates in one BGR image, best first."""
        return self.recognize_batch([image_bgr])[0]

    def recognize_batch(self, images: Sequence[np.ndarray]) -> list[list[RecognizedPlate]]:
        """Plates per image; the networks see batches (same-size images share a det batch)."""
        imgs = [validate_image(im) for im in images]
        if not imgs:
            return []
        per_image = self._pass(imgs, range(len(imgs)), self.det_long_side)
        results = [self._select(self._with_stacked(rs)) for rs in per_image]
        if self.fine_long_side:
            # a second, finer look where the first found no sure plate: small plates in a
            # wide scene need more detector resolution than most frames are worth spending
            again = [i for i, res in enumerate(results) if not _sure(res) and not self._plate_crop(imgs[i])]
            if again:
                finer = self._pass(imgs, again, self.fine_long_side)
                for i in again:
                    per_image[i] += [r for r in finer[i] if _refines(r, per_image[i]) or _plate_like(r.plate)]
                    results[i] = self._select(self._with_stacked(per_image[i]))
        return results

    def _pass(self, imgs: list[np.ndarray], which: Sequence[int], long_side: int) -> list[list[Reading]]:
        """Detect (at ``long_side``) and read the images ``which``; readings per image."""
        boxes = self._detect([imgs[i] for i in which], long_side)
        lines: list[_Line] = []
        for i, bxs in zip(which, boxes):
            lines.extend(self._lines(i, imgs[i], bxs, whole=long_side == self.det_long_side))
        readings = self._read(imgs, lines)
        readings += self._read(imgs, self._wide_lines(imgs, readings))
        per_image: list[list[Reading]] = [[] for _ in imgs]
        for r in readings:
            per_image[r.image].append(r)
        return per_image

    def _wide_lines(self, imgs: list[np.ndarray], readings: list[Reading]) -> list[_Line]:
        """The best plate-like lines of each image again with more room: padded by
        ``US_PAD`` (US-looking lines: more context for edge characters; a reading of its own)
        and, in scenes, by ``WIDE_PAD`` (a character the detector left outside the box; only
        counts when it adds one). Lines spanning most of the image are plate crops, read whole."""
        best: dict[int, list[Reading]] = {}
        for r in sorted(readings, key=lambda r: -r.score):
            if r.parts == 0 or not 4 <= len(r.plate) <= 7 or regions.is_decoration(r.plate):
                continue
            if len(best.setdefault(r.image, [])) < WIDE_LINES:
                best[r.image].append(r)
        out: list[_Line] = []
        for rs in best.values():
            for r in rs:
                if self.country in ("auto", "us") and not (r.band or regions.looks_foreign(r.plate)):
                    out.append(_Line(r.image, r.quad, r.score, r.parts, pad=US_PAD))
                if np.ptp(r.quad[:, 0]) <= 0.3 * imgs[r.image].shape[1]:
                    out.append(_Line(r.image, r.quad, r.score, r.parts, pad=WIDE_PAD, origin=r.plate))
        return out

    # ------------------------------------------------------------------ detection
    def _detect(self, imgs: list[np.ndarray], long_side: int) -> list[list[geo.TextBox]]:
        sizes = [
            geo.det_size(im.shape[0], im.shape[1], long_side, self.det_max_upscale)
            for im in imgs
        ]
        result: list[list[geo.TextBox]] = [[] for _ in imgs]
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, s in enumerate(sizes):
            by_size.setdefault(s, []).append(i)
        for size, idxs in by_size.items():
            batch = np.stack([geo.det_input(imgs[i], size) for i in idxs])
            probs = self.backend.detect(batch)
            if probs.ndim != 4 or probs.shape[0] != len(idxs):
                raise RuntimeError(f"detector returned shape {probs.shape} for input {batch.shape}")
            for k, i in enumerate(idxs):
                result[i] = geo.boxes_from_prob(
                    probs[k, 0],
                    imgs[i].shape[:2],
                    thresh=self.det_thresh,
                    box_thresh=self.box_thresh,
                    unclip_ratio=self.unclip_ratio,
                )
        return result

    def _plate_crop(self, img: np.ndarray) -> bool:
        """A small, plate-shaped image: probably a plate crop (read whole; no finer look)."""
        h, w = img.shape[:2]
        return self.crop_fallback and 1.0 <= w / h <= 7.0 and max(h, w) <= 400

    def _lines(self, index: int, img: np.ndarray, boxes: list[geo.TextBox], whole: bool = True) -> list[_Line]:
        h_img, w_img = img.shape[:2]
        keep = [
            b
            for b in boxes
            if b.height >= self.min_char_height
            and abs(geo.box_angle(b)) <= 35
            and b.width >= 0.5 * b.height
        ]
        lines: list[_Line] = []
        for group in geo.line_groups(keep):
            members = [keep[k] for k in group]
            if len(members) > 1:
                merged = members[0]
                for b in members[1:]:
                    merged = geo.merge_boxes(merged, b)
                lines.append(_Line(index, merged.quad, merged.score, len(members)))
            for b in members:
                if b.width >= 0.9 * b.height:
                    lines.append(_Line(index, b.quad, b.score, 1))
        if whole and self._plate_crop(img):
            # small, plate-shaped image: probably a plate crop, read it whole as well
            quad = np.array([[0, 0], [w_img, 0], [w_img, h_img], [0, h_img]], dtype=np.float32)
            lines.append(_Line(index, quad, 0.0, 0))
        return lines

    # ------------------------------------------------------------------ recognition
    def _read(self, imgs: list[np.ndarray], lines: list[_Line]) -> list[Reading]:
        for ln in lines:
            if ln.parts == 0:
                ln.crop = imgs[ln.image]
            else:
                ln.crop = geo.crop_quad(imgs[ln.image], geo.expand_quad(ln.quad, ln.pad, PAD_Y))
            ln.width = geo.rec_width(ln.crop.shape[:2])
        by_width: dict[int, list[int]] = {}
        for k, ln in enumerate(lines):
            by_width.setdefault(ln.width, []).append(k)
        reduced: list[np.ndarray | None] = [None] * len(lines)
        for width, idxs in sorted(by_width.items()):
            for s in range(0, len(idxs), self.rec_batch_size):
                chunk = idxs[s : s + self.rec_batch_size]
                batch = np.stack([geo.rec_input(lines[k].crop, width) for k in chunk])
                out = self.backend.recognize(batch)
                if out.ndim != 3 or out.shape[0] != len(chunk) or out.shape[2] != self._fold.shape[0]:
                    raise RuntimeError(f"recogniser returned shape {out.shape} for input {batch.shape}")
                red = fold_probs(out, self._fold)
                for j, k in enumerate(chunk):
                    reduced[k] = red[j]
        readings: list[Reading] = []
        for ln, red in zip(lines, reduced):
            assert red is not None and ln.crop is not None
            for r in self._interpret(ln, red):
                # a wide re-read only counts when it adds a character at an end of the plate
                if not ln.origin or (len(r.plate) == len(ln.origin) + 1 and ln.origin in r.plate):
                    readings.append(r)
        return readings

    def _reading(self, image: int, quad: np.ndarray, chars: list[DecodedChar], parts: int, shape: float) -> Reading | None:
        cands = candidates(chars, topn=self.topn)
        if not cands:
            return None
        plate, conf = cands[0]
        return Reading(image, quad, chars, plate, conf, conf * shape, cands, parts, shape)

    def _interpret(self, ln: _Line, red: np.ndarray) -> list[Reading]:
        assert ln.crop is not None
        decoded = ctc_decode(red)
        chars = decoded.plate_chars()
        n_band = rules.band_chars(ln.crop, ln.width, decoded.chars)
        if 0 < n_band <= 3 and len(chars) - n_band >= 2:
            chars = chars[n_band:]  # the country code on a blue band is not part of the plate
        lead, trail = rules.small_ends(rules.char_heights(ln.crop, ln.width, chars))
        if lead or trail:  # stacked type codes, county numbers, emblems: smaller than the registration
            chars = chars[lead : len(chars) - trail]
        shape = rules.shape_prior(ln.quad) if ln.parts else 1.0
        r = self._reading(ln.image, ln.quad, chars, ln.parts, shape)
        if r is not None and n_band > 0:
            r.band = True
        return [r] if r is not None else []

    # ------------------------------------------------------------------ selection
    def _with_stacked(self, readings: list[Reading]) -> list[Reading]:
        """Add two-row plate readings (upper row then lower row) for stacked single lines."""
        rows = [r for r in readings if r.parts == 1]
        extra: list[Reading] = []
        for up in rows:
            for low in rows:
                if up is low or not rules.stacked(up.quad, low.quad):
                    continue
                quad = rules.union_quad(up.quad, low.quad)
                r = self._reading(up.image, quad, up.chars + low.chars, 2, 1.0)
                if r is not None:
                    extra.append(r)
        return readings + extra

    def _select(self, readings: list[Reading]) -> list[RecognizedPlate]:
        return self._selector.select(readings)
