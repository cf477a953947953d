"""Choosing the plates of an image from its readings: decorations dropped, US readings re-ranked
by the state formats, readings that contain one another resolved, overlapping and decorating
text suppressed. :class:`Selector` holds the recogniser's settings for it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from alpr.records import Candidate

from . import plates as rules
from . import regions
from .decoding import DecodedChar

Point = tuple[float, float]


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
class Reading:
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


def _aspect(quad: np.ndarray) -> float:
    w = float(np.ptp(quad[:, 0]))
    h = float(np.ptp(quad[:, 1]))
    return w / h if h > 0 else 0.0


#: an end character read with less than this probability is not trusted to extend a plate
WEAK_END = 0.8


def _weak_extra(longer: Reading, inner: str) -> bool:
    """Whether ``longer`` is ``inner`` plus characters at its ends that were all read weakly."""
    if len(longer.chars) != len(longer.plate) or len(inner) < 4 or len(longer.plate) - len(inner) > 2:
        return False  # only one or two extra characters around a plate-length reading
    at = longer.plate.find(inner)
    if at not in (0, len(longer.plate) - len(inner)):
        return False  # the extra characters are in the middle or on both sides
    extra = longer.chars[:at] + longer.chars[at + len(inner):]
    return bool(extra) and max(c.prob for c in extra) < WEAK_END


@dataclass(frozen=True)
class Selector:
    """How plates are chosen: country/state hints, confidence floor, plates per image, and the
    model names every plate carries."""

    country: str
    state: str | None
    min_confidence: float
    max_plates: int
    models: tuple[str, str]

    def jurisdiction(self, readings: list[Reading]) -> tuple[list[Reading], dict[str, float], set[int]]:
        """Drop decorations (state names, slogans, stickers), collect state cues and re-rank
        US-looking readings by the state formats. Returns readings, cues, ids of US readings."""
        if self.country not in ("auto", "us"):
            return readings, {}, set()
        votes: dict[str, float] = {}
        for r in readings:
            cue = regions.cue_state(r.plate)
            if cue and (r.parts == 0 or any(_decoration_of(o.quad, r.quad) for o in readings if o is not r)):
                # a state name or slogan counts where it is printed on a plate, next to a
                # registration: not a badge elsewhere on the car (EXPLORER, not EXPLORE MINNESOTA)
                votes[cue[0]] = max(votes.get(cue[0], 0.0), cue[1])
        state = self.state or (max(votes, key=lambda k: votes[k]) if votes else None)
        forced = self.country == "us" or bool(votes)
        # a whole image of about 2:1 is a US plate crop (12 x 6 in; EU plates are about 4.7:1):
        # American enough to spell a vanity text the NCIC way, not to override foreign formats
        sure = forced or any(r.parts == 0 and 1.5 <= _aspect(r.quad) <= 2.6 for r in readings)
        out: list[Reading] = []
        us: set[int] = set()
        for r in readings:
            if regions.is_decoration(r.plate):
                continue
            if not forced and (regions.looks_foreign(r.plate) or r.band):
                out.append(r)  # another country's format or an EU band: keep the generic reading
                continue
            cands = regions.rerank(r.cands, state, sure)
            plate, conf = cands[0]
            r = dataclasses.replace(r, plate=plate, confidence=conf, score=conf * r.shape * self.height(r, readings),
                                    cands=cands)
            us.add(id(r))
            out.append(r)
        return out, votes, us

    @staticmethod
    def height(r: Reading, readings: list[Reading]) -> float:
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

    def fits(self, longer: str, shorter: str, votes: dict[str, float]) -> bool:
        """Whether the longer text fits the (hinted, cued or national) US formats about as well
        as the shorter one: then weakly read end characters of a line are the plate's own (a
        low-resolution first digit), not an emblem's. A whole-crop reading never gets this."""
        if self.country not in ("auto", "us"):
            return False
        state = self.state or (max(votes, key=lambda k: votes[k]) if votes else None)
        weight = regions.format_weight(longer, state)
        return weight > 0 and weight >= 0.25 * regions.format_weight(shorter, state)

    def select(self, readings: list[Reading]) -> list[RecognizedPlate]:
        readings = [r for r in readings if r.confidence >= self.min_confidence and r.score > 0]
        readings, votes, us = self.jurisdiction(readings)
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
                    if _weak_extra(a, b.plate) and (a.parts == 0 or not self.fits(a.plate, b.plate, votes)):
                        dominated.add(i)
                        claims.setdefault(id(b), []).append(a.quad)
                    elif a.score >= 0.85 * b.score:
                        dominated.add(j)
                        claims.setdefault(id(a), []).append(b.quad)
        ranked = sorted(
            (r for k, r in enumerate(readings) if k not in dominated), key=lambda r: -r.score
        )
        chosen: list[Reading] = []
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
                                          f"us-{code.lower()}" if code else "", rconf, *self.models))
        return plates
