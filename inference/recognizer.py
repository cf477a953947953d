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

import dataclasses
import io
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from alpr.records import Candidate

from . import geometry as geo
from .backends import InferenceBackend, OnnxBackend, model_ids
from . import plates as rules
from . import regions
from .decoding import DecodedChar, candidates, ctc_decode, fold_matrix, fold_probs

#: line crops are padded by these fractions of the line height at each end / top and bottom, so
#: the first and last characters are never clipped
PAD_X, PAD_Y = 0.12, 0.08
#: the best WIDE_LINES plate-like lines of an image are read again padded by these heights
WIDE_LINES, WIDE_PAD, US_PAD = 2, 0.9, 0.25
MAX_SIDE = 8192
MIN_SIDE = 8

Point = tuple[float, float]


class FrameDecodeError(ValueError):
    """Encoded frame bytes are empty, corrupt, undecodable or of absurd dimensions."""


def decode_image(data: bytes, max_side: int = MAX_SIDE) -> np.ndarray:
    """Decode JPEG/PNG/... bytes into a BGR ``uint8`` image, or raise :class:`FrameDecodeError`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FrameDecodeError(f"frame data must be bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise FrameDecodeError("frame data is empty")
    declared = _declared_size(bytes(data))
    if declared is not None and (declared[0] > max_side or declared[1] > max_side):
        # refuse before decoding: a few hundred bytes claiming 30000x30000 px would otherwise
        # make the decoder allocate gigabytes (decompression bomb)
        raise FrameDecodeError(f"frame header declares {declared[0]}x{declared[1]} px, larger than the "
                               f"{max_side} px limit per side")
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise FrameDecodeError(f"cannot decode frame ({len(data)} bytes): {exc}") from exc
    if img is None or img.size == 0:
        raise FrameDecodeError(
            f"cannot decode frame: {len(data)} bytes are not a supported image "
            f"(starts with {bytes(data[:8]).hex()})"
        )
    h, w = img.shape[:2]
    if h > max_side or w > max_side:
        raise FrameDecodeError(f"frame is {w}x{h} px, larger than the {max_side} px limit per side")
    if h < MIN_SIDE or w < MIN_SIDE:
        raise FrameDecodeError(f"frame is {w}x{h} px, smaller than {MIN_SIDE} px per side")
    return img


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height the image header declares (read without decoding pixels), or None when
    the header is not one Pillow can parse (OpenCV then decides)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError as exc:  # over Pillow's pixel ceiling: far above any side limit
        raise FrameDecodeError(f"frame header declares an oversized image: {exc}") from None
    except Exception:  # noqa: BLE001 - unparseable header: leave the verdict to cv2.imdecode
        return None


def validate_image(image: np.ndarray) -> np.ndarray:
    """Return a contiguous BGR uint8 HxWx3 view of ``image`` or raise ``ValueError``."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be HxW, HxWx3 (BGR) or HxWx4, got shape {image.shape}")
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    h, w = image.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"image is {w}x{h} px; at least {MIN_SIDE} px per side are needed")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise ValueError(f"image is {w}x{h} px; at most {MAX_SIDE} px per side are supported")
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class RecognizedPlate:
    """One plate in one image: best reading, confidence (0-100), quad (tl,tr,br,bl), top-N."""

    plate: str
    confidence: float
    coordinates: tuple[Point, Point, Point, Point]
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    region: str = ""  # OpenALPR style, e.g. "us-ca"; "" when unknown
    region_confidence: float = 0.0
    detector: str = ""  # model provenance: name@checksum or version
    recognizer: str = ""


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


@dataclass
class _Reading:
    image: int
    quad: np.ndarray
    chars: list[DecodedChar]
    plate: str
    confidence: float
    score: float
    cands: list[tuple[str, float]]
    parts: int
    shape: float = 1.0
    band: bool = False  # an EU country band was found (and dropped)


def _decoration_of(main: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``other`` is small text printed on the plate ``main``: a state name above, a
    slogan or dealer frame below (clearly shorter, horizontally within it, stacked right above
    or below it), or a label beside it (under half its height, within its rows, close by)."""
    mx0, my0 = main.min(axis=0)
    mx1, my1 = main.max(axis=0)
    ox0, oy0 = other.min(axis=0)
    ox1, oy1 = other.max(axis=0)
    mh, oh, ow = my1 - my0, oy1 - oy0, max(ox1 - ox0, 1e-6)
    if mh <= 0 or oh >= 0.7 * mh:
        return False
    if oh < 0.5 * mh and oy0 >= my0 - 0.1 * mh and oy1 <= my1 + 0.1 * mh:
        # beside it, within its height: a label or stacked code printed next to the registration
        return max(mx0 - ox1, ox0 - mx1) < mh
    if (min(mx1, ox1) - max(mx0, ox0)) / ow < 0.6:
        return False
    gap = max(my0 - oy1, oy0 - my1)  # negative when they overlap vertically
    return gap < 0.8 * mh and not (oy0 > my0 and oy1 < my1)


#: an end character read with less than this probability is not trusted to extend a plate
WEAK_END = 0.8


def _weak_extra(longer: _Reading, inner: str) -> bool:
    """Whether ``longer`` is ``inner`` plus characters at its ends that were all read weakly."""
    if len(longer.chars) != len(longer.plate) or len(inner) < 4 or len(longer.plate) - len(inner) > 2:
        return False  # only one or two extra characters around a plate-length reading
    at = longer.plate.find(inner)
    if at not in (0, len(longer.plate) - len(inner)):
        return False  # the extra characters are in the middle or on both sides
    extra = longer.chars[:at] + longer.chars[at + len(inner):]
    return bool(extra) and max(c.prob for c in extra) < WEAK_END


class PlateRecognizer:
    """Finds and reads licence plates. Not thread-safe: use one per worker thread."""

    def __init__(
        self,
        backend: InferenceBackend | None = None,
        topn: int = 10,
        det_long_side: int = 736,
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
        boxes = self._detect(imgs)
        lines: list[_Line] = []
        for i, (img, bxs) in enumerate(zip(imgs, boxes)):
            lines.extend(self._lines(i, img, bxs))
        readings = self._read(imgs, lines)
        readings += self._read(imgs, self._wide_lines(imgs, readings))
        per_image: list[list[_Reading]] = [[] for _ in imgs]
        for r in readings:
            per_image[r.image].append(r)
        return [self._select(self._with_stacked(rs)) for rs in per_image]

    def _wide_lines(self, imgs: list[np.ndarray], readings: list[_Reading]) -> list[_Line]:
        """The best plate-like lines of each image again with more room: padded by
        ``US_PAD`` (US-looking lines: more context for edge characters; a reading of its own)
        and, in scenes, by ``WIDE_PAD`` (a character the detector left outside the box; only
        counts when it adds one). Lines spanning most of the image are plate crops, read whole."""
        best: dict[int, list[_Reading]] = {}
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
    def _detect(self, imgs: list[np.ndarray]) -> list[list[geo.TextBox]]:
        sizes = [
            geo.det_size(im.shape[0], im.shape[1], self.det_long_side, self.det_max_upscale)
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

    def _lines(self, index: int, img: np.ndarray, boxes: list[geo.TextBox]) -> list[_Line]:
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
        if self.crop_fallback and 1.0 <= w_img / h_img <= 7.0 and max(h_img, w_img) <= 400:
            # small, plate-shaped image: probably a plate crop, read it whole as well
            quad = np.array([[0, 0], [w_img, 0], [w_img, h_img], [0, h_img]], dtype=np.float32)
            lines.append(_Line(index, quad, 0.0, 0))
        return lines

    # ------------------------------------------------------------------ recognition
    def _read(self, imgs: list[np.ndarray], lines: list[_Line]) -> list[_Reading]:
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
        readings: list[_Reading] = []
        for ln, red in zip(lines, reduced):
            assert red is not None and ln.crop is not None
            for r in self._interpret(ln, red):
                # a wide re-read only counts when it adds a character at an end of the plate
                if not ln.origin or (len(r.plate) == len(ln.origin) + 1 and ln.origin in r.plate):
                    readings.append(r)
        return readings

    def _reading(self, image: int, quad: np.ndarray, chars: list[DecodedChar], parts: int, shape: float) -> _Reading | None:
        cands = candidates(chars, topn=self.topn)
        if not cands:
            return None
        plate, conf = cands[0]
        return _Reading(image, quad, chars, plate, conf, conf * shape, cands, parts, shape)

    def _interpret(self, ln: _Line, red: np.ndarray) -> list[_Reading]:
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
    def _with_stacked(self, readings: list[_Reading]) -> list[_Reading]:
        """Add two-row plate readings (upper row then lower row) for stacked single lines."""
        rows = [r for r in readings if r.parts == 1]
        extra: list[_Reading] = []
        for up in rows:
            for low in rows:
                if up is low or not rules.stacked(up.quad, low.quad):
                    continue
                quad = rules.union_quad(up.quad, low.quad)
                r = self._reading(up.image, quad, up.chars + low.chars, 2, 1.0)
                if r is not None:
                    extra.append(r)
        return readings + extra

    def _jurisdiction(self, readings: list[_Reading]) -> tuple[list[_Reading], dict[str, float], set[int]]:
        """Drop decorations (state names, slogans, stickers), collect state cues and re-rank
        US-looking readings by the state formats. Returns readings, cues, ids of US readings."""
        if self.country not in ("auto", "us"):
            return readings, {}, set()
        votes: dict[str, float] = {}
        for r in readings:
            cue = regions.cue_state(r.plate)
            if cue:
                votes[cue[0]] = max(votes.get(cue[0], 0.0), cue[1])
        state = self.state or (max(votes, key=lambda k: votes[k]) if votes else None)
        forced = self.country == "us" or bool(votes)
        out: list[_Reading] = []
        us: set[int] = set()
        for r in readings:
            if regions.is_decoration(r.plate):
                continue
            if not forced and (regions.looks_foreign(r.plate) or r.band):
                out.append(r)  # another country's format or an EU band: keep the generic reading
                continue
            cands = regions.rerank(r.cands, state, forced)
            plate, conf = cands[0]
            r = dataclasses.replace(r, plate=plate, confidence=conf, score=conf * r.shape * self._height(r, readings),
                                    cands=cands)
            us.add(id(r))
            out.append(r)
        return out, votes, us

    @staticmethod
    def _height(r: _Reading, readings: list[_Reading]) -> float:
        """The registration is the tallest text on a plate: a line clearly shorter than a
        nearby line (state name, slogan, sticker next to the registration) is demoted."""
        if r.parts == 0:
            return 1.0
        x0, y0 = r.quad.min(axis=0)
        x1, y1 = r.quad.max(axis=0)
        for o in readings:
            if o is r or o.parts == 0:
                continue
            ox0, oy0 = o.quad.min(axis=0)
            ox1, oy1 = o.quad.max(axis=0)
            oh = oy1 - oy0
            if oh <= 0 or y1 - y0 >= 0.7 * oh:
                continue
            if max(oy0 - y1, y0 - oy1) < 1.2 * oh and max(ox0 - x1, x0 - ox1) < 1.5 * oh:
                return 0.6
        return 1.0

    def _fits(self, longer: str, shorter: str, votes: dict[str, float]) -> bool:
        """Whether the longer text fits the (hinted, cued or national) US formats about as well
        as the shorter one: then weakly read end characters of a line are the plate's own (a
        low-resolution first digit), not an emblem's. A whole-crop reading never gets this."""
        if self.country not in ("auto", "us"):
            return False
        state = self.state or (max(votes, key=lambda k: votes[k]) if votes else None)
        weight = regions.format_weight(longer, state)
        return weight > 0 and weight >= 0.25 * regions.format_weight(shorter, state)

    def _select(self, readings: list[_Reading]) -> list[RecognizedPlate]:
        readings = [r for r in readings if r.confidence >= self.min_confidence and r.score > 0]
        readings, votes, us = self._jurisdiction(readings)
        # a reading that contains an overlapping reading's text, nearly as good, supersedes it,
        # unless what it adds at an end was read weakly (an emblem, a flower, a badge next to the
        # registration): then the shorter reading supersedes the longer one
        # (the superseded reading's area stays claimed by the one that superseded it)
        dominated: set[int] = set()
        claims: dict[int, list[np.ndarray]] = {}
        for i, a in enumerate(readings):
            for j, b in enumerate(readings):
                if (
                    i != j
                    and len(a.plate) > len(b.plate)
                    and b.plate in a.plate
                    and rules.overlap(a.quad, b.quad) > 0.3
                ):
                    if _weak_extra(a, b.plate) and (a.parts == 0 or not self._fits(a.plate, b.plate, votes)):
                        dominated.add(i)
                        claims.setdefault(id(b), []).append(a.quad)
                    elif a.score >= 0.85 * b.score:
                        dominated.add(j)
                        claims.setdefault(id(a), []).append(b.quad)
        ranked = sorted(
            (r for k, r in enumerate(readings) if k not in dominated), key=lambda r: -r.score
        )
        chosen: list[_Reading] = []
        for r in ranked:
            if any(rules.overlap(r.quad, q) > 0.3 or _decoration_of(q, r.quad)
                   for c in chosen for q in (c.quad, *claims.get(id(c), ()))):
                continue
            chosen.append(r)
            if len(chosen) >= self.max_plates:
                break
        plates = []
        for r in chosen:
            coords = tuple((float(x), float(y)) for x, y in r.quad)
            cands = tuple(Candidate(plate=t, confidence=round(c, 3)) for t, c in r.cands)
            code, rconf = regions.guess_state(votes, r.plate, self.state) if id(r) in us else ("", 0.0)
            plates.append(RecognizedPlate(r.plate, round(r.confidence, 3), coords, cands,  # type: ignore[arg-type]
                                          f"us-{code.lower()}" if code else "", rconf, *self._models))
        return plates
