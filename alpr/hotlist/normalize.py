"""Plate normalisation, OCR-equivalence tables and state codes shared by importers and matcher."""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

#: Genetec's default Latin OCR-equivalence classes (field notes section 2). The first
#: character of each class is its canonical representative.
DEFAULT_OCR_TABLE: tuple[str, ...] = ("0ODQ", "1I", "2Z", "5S", "8B", "6G")

#: Sources whose plates were keyed NCIC-style (letter O written as digit zero):
#: for their entries O and 0 are the same character (distance 0).
NCIC_SOURCES = frozenset({"ncic", "clew", "clets"})

MAX_WILDCARDS = 2

_NON_PLATE = re.compile(r"[^A-Z0-9]")
_NON_PATTERN = re.compile(r"[^A-Z0-9*]")
_PLATE_OK = re.compile(r"[A-Z0-9]+")

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM "
    "NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC".split())
US_TERRITORIES = frozenset("AS GU MP PR VI UM".split())
CA_PROVINCES = frozenset("AB BC MB NB NL NF NS NT NU ON PE QC PQ SK YT".split())
OTHER_NCIC = frozenset("US MX".split())  # US government plates, Mexico
VALID_STATES = US_STATES | US_TERRITORIES | CA_PROVINCES | OTHER_NCIC


def normalize_plate(raw: str, allow_wildcard: bool = False) -> str:
    """Upper-case and strip spaces, hyphens and symbols; ``*`` kept only for patterns."""
    up = raw.upper()
    return (_NON_PATTERN if allow_wildcard else _NON_PLATE).sub("", up)


def is_normalized(plate: str) -> bool:
    return _PLATE_OK.fullmatch(plate) is not None


def normalize_state(raw: str, ncic: bool = False) -> str:
    """Upper-case a state field; NCIC extracts write O as zero in code fields (``0H`` = OH)."""
    st = raw.strip().upper()
    return st.replace("0", "O") if ncic else st


def valid_state(state: str) -> bool:
    return state in VALID_STATES


class OcrTable:
    """OCR-equivalence classes: canonical form of a plate and pair classification.

    The canonical translation always merges O and 0 as well (so NCIC-sourced entries
    are found by the same lookup) even if a configured table leaves them apart; whether
    a differing pair *counts* as an OCR substitution is decided by :meth:`equivalent`.
    """

    def __init__(self, classes: Sequence[str] = DEFAULT_OCR_TABLE):
        cls_sets: list[set[str]] = []
        for c in classes:
            chars = set(normalize_plate(c))
            if len(chars) < 2:
                raise ValueError(f"OCR class {c!r} needs at least two characters")
            cls_sets.append(chars)
        self.classes: tuple[str, ...] = tuple("".join(sorted(s)) for s in cls_sets)
        # merge overlapping classes (union-find by repeated merging; tables are tiny)
        merged = self._merge(cls_sets)
        self._class_of: dict[str, int] = {}
        for i, s in enumerate(merged):
            for ch in s:
                self._class_of[ch] = i
        canon_sets = self._merge(merged + [{"O", "0"}])
        mapping: dict[int, str] = {}
        for s in canon_sets:
            rep = min(s)
            for ch in s:
                mapping[ord(ch)] = rep
        self.translation: Mapping[int, str] = str.maketrans(mapping) if mapping else {}

    @staticmethod
    def _merge(sets: Iterable[set[str]]) -> list[set[str]]:
        out: list[set[str]] = []
        for s in sets:
            s = set(s)
            keep = []
            for o in out:
                if o & s:
                    s |= o
                else:
                    keep.append(o)
            out = keep + [s]
        return out

    def canonical(self, plate: str) -> str:
        return plate.translate(self.translation)

    def equivalent(self, a: str, b: str) -> bool:
        """True when ``a`` and ``b`` differ but are in one configured OCR class."""
        ca = self._class_of.get(a)
        return ca is not None and a != b and ca == self._class_of.get(b)


DEFAULT_TABLE = OcrTable(DEFAULT_OCR_TABLE)
