"""Deterministic synthetic US plates, hotlists and OCR-noisy read streams (benchmarks, tests).

Formats and weights approximate the US fleet: 7-character serial formats dominate
(CA ``9ABC999``, TX/NY/PA/OH/GA/NC/MI/AZ/WA ``ABC1234``), plus older 6-character ones,
NJ-style mixed formats and a few vanity plates.
"""

from __future__ import annotations

import random
import string
from typing import Iterator, Optional

from alpr.records import HotlistEntry

from .entries import make_entry_id
from .normalize import DEFAULT_OCR_TABLE

L = string.ascii_uppercase
D = string.digits
AN = L + D

# (format, weight, states): '@' letter, '#' digit, '*' letter or digit
FORMATS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("#@@@###", 0.22, ("CA",)),
    ("@@@####", 0.40, ("TX", "NY", "PA", "OH", "GA", "NC", "MI", "AZ", "WA", "VA")),
    ("@@@###", 0.10, ("FL", "CO", "OR", "NV", "MA")),
    ("###@@@", 0.07, ("WI", "MN", "IN", "TN")),
    ("@##@@@", 0.06, ("NJ",)),
    ("@@#####", 0.05, ("IL",)),
    ("#@@##", 0.04, ("MD", "CT")),
    ("*****", 0.02, ("CA", "TX", "FL")),
    ("******", 0.02, ("CA", "TX", "FL")),
    ("*******", 0.02, ("CA", "TX", "FL")),
)
NCIC_CODES = ("V", "V", "V", "V", "P", "P", "F", "W", "M", "C", "H", "K", "L", "R", "T", "X", "A")


def plate_from_format(rng: random.Random, fmt: str) -> str:
    out = []
    for ch in fmt:
        out.append(rng.choice(L) if ch == "@" else rng.choice(D) if ch == "#" else rng.choice(AN))
    return "".join(out)


def random_plate(rng: random.Random) -> tuple[str, str]:
    """(plate, state) drawn from the weighted formats."""
    r = rng.random()
    acc = 0.0
    for fmt, w, states in FORMATS:
        acc += w
        if r <= acc:
            return plate_from_format(rng, fmt), rng.choice(states)
    fmt, _, states = FORMATS[0]
    return plate_from_format(rng, fmt), states[0]


def ocr_noise(rng: random.Random, plate: str) -> str:
    """One realistic misread (field notes section 3: 54 % length errors, rest substitutions,
    most of those OCR-class confusions)."""
    if len(plate) < 3:
        return plate
    r = rng.random()
    i = rng.randrange(len(plate))
    if r < 0.30:  # dropped character
        return plate[:i] + plate[i + 1:]
    if r < 0.54:  # extra character
        return plate[:i] + rng.choice(AN) + plate[i:]
    cls = [c for c in DEFAULT_OCR_TABLE if plate[i] in c]
    if cls and r < 0.90:
        return plate[:i] + rng.choice([x for x in cls[0] if x != plate[i]]) + plate[i + 1:]
    return plate[:i] + rng.choice([x for x in AN if x != plate[i]]) + plate[i + 1:]


def ncic_like_entries(n: int, seed: int = 1, list_code: Optional[str] = None, source: str = "ncic",
                      **overrides) -> list[HotlistEntry]:
    """``n`` distinct plates as NCIC-like entries (list codes weighted towards V/P)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    while len(out) < n:
        plate, state = random_plate(rng)
        if plate in seen:
            continue
        seen.add(plate)
        code = list_code or rng.choice(NCIC_CODES)
        out.append(HotlistEntry(entry_id=make_entry_id(code, plate, state), plate=plate, list_code=code,
                                state=state, source=source, **overrides))
    return out


def read_stream(n: int, seed: int = 2, hot: Optional[list[str]] = None, hot_share: float = 0.0,
                noisy_share: float = 0.0) -> Iterator[str]:
    """``n`` read plates: random fleet plates, a ``hot_share`` of hotlist plates (of which a
    ``noisy_share`` carry one OCR error)."""
    rng = random.Random(seed)
    for _ in range(n):
        if hot and rng.random() < hot_share:
            p = rng.choice(hot)
            yield ocr_noise(rng, p) if rng.random() < noisy_share else p
        else:
            yield random_plate(rng)[0]
