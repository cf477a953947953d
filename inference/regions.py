"""Jurisdiction-aware decoding for US plates, after OpenALPR's region patterns.

The facts live in ``us_formats.json`` (built by ``benchmarks/build_us_formats.py`` from public
DMV plate descriptions and ground-truth pattern counts): per state its serial formats
(``L`` letter, ``D`` digit) with weights, its name and the slogans printed on its plates.

* :func:`cue_state` - a reading that is (a fragment of) a state name or slogan, read with
  look-alike digits (``WY0MING``, ``1NDIANA``, ``dmv.ca.gov``), names the state;
* :func:`is_decoration` - such readings, registration stickers (``FEB2002``) and a few words
  printed around plates are not plates;
* :func:`rerank` - candidates re-scored by how well their letter/digit pattern fits the
  state's formats (or, state unknown, all states' formats): position by position, a letter
  where the formats put a digit costs up to 40 %;
* :func:`us_text` - NCIC writes the letter O as zero: outside a letter position of a matching
  format an ``O`` becomes ``0``;
* :func:`guess_state` - the state from the cues, else from the format (posterior over states).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .decoding import length_prior, plate_prior

TABLE_PATH = Path(__file__).resolve().parent / "us_formats.json"

#: digits that plate fonts draw like letters, for reading state names and slogans
_TO_LETTER = str.maketrans("0123456789", "OIZBASGTBG")
_STICKER = re.compile(r"^(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC)\d{2,4}$|^\d{2,4}(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)$")
#: how far the format prior may demote a candidate: strongly when the state is known (hint or
#: state name on the plate), mildly when only the national mixture of formats is known
KNOWN_FLOOR, UNKNOWN_FLOOR = 0.6, 0.92
#: a format this share as common as the state's most common one is not demoted against it
SAME_ENOUGH = 0.2
_YEAR = re.compile(r"^(19[6-9]|20[0-4])\d$")  # a registration sticker's year
#: words printed on or around plates that are never the registration
_WORDS = frozenset(
    "MONTH YEAR STATE COUNTY USA DEALER DEALERS TRUCK TRAILER PASSENGER FLEET GOVT GOVERNMENT "
    "OFFICIAL EXEMPT PERM PERMANENT NONGAME WILDLIFE FIREFIGHTER RESIDENT VETERAN EXPLORE STICKER "
    "TOYOTA HONDA NISSAN FORD CHEVROLET CHEVY DODGE MAZDA SUBARU HYUNDAI KIA VOLVO ACURA LEXUS "
    "INFINITI VOLKSWAGEN AUDI BMW JEEP BUICK CADILLAC CHRYSLER LINCOLN MERCURY PONTIAC SATURN "
    "CAMRY COROLLA CIVIC ACCORD ALTIMA SENTRA MAXIMA FOCUS TAURUS EXPLORER ESCAPE PRIUS JETTA "
    "PASSAT ELANTRA SONATA MUSTANG TACOMA TUNDRA CITROEN PEUGEOT RENAULT OPEL FIAT SKODA MERCEDES "
    "PORSCHE MITSUBISHI SUZUKI TESLA 4WD AWD 4X4 HYBRID TURBO LIMITED".split()
)


#: serial patterns of other countries' standard plates (EU/UK/Mercosur): a reading in one of them
#: is not decoded as a US plate unless a hint or a state cue says so
FOREIGN = frozenset({"LLDDDLL", "LLLDLDD", "LLDDLLL", "DLDDDDD"})


def looks_foreign(text: str) -> bool:
    return pattern(text) in FOREIGN


#: words of road and shop signs: a reading that starts or ends with one is a sign, not a plate
SIGN_WORDS = ("EXIT", "NORTH", "SOUTH", "EAST", "WEST", "MILE", "STOP", "ONLY", "LANE", "PARKING", "SPEED",
              "LIMIT", "ROUTE", "RESIDENT", "PENSKE", "THISAREA", "DEALER", "MOTORS", "AUTO")


@dataclass(frozen=True)
class StateInfo:
    code: str
    name: str
    formats: dict[str, float]
    cues: tuple[str, ...]
    prior: float  # share of US registrations


@functools.lru_cache(maxsize=1)
def table() -> tuple[str, dict[str, StateInfo]]:
    """(version, states) from ``us_formats.json``."""
    raw = json.loads(TABLE_PATH.read_text())
    states = {
        code: StateInfo(code, s["name"], {k: float(v) for k, v in s["formats"].items()}, tuple(s["cues"]),
                        float(s.get("prior", 0.02)))
        for code, s in raw["states"].items()
    }
    return str(raw.get("version", "")), states


def pattern(text: str) -> str:
    return "".join("L" if c.isalpha() else "D" for c in text)


def _letters(text: str) -> str:
    return text.translate(_TO_LETTER)


def cue_state(text: str) -> tuple[str, float] | None:
    """``(state, strength 0..1)`` when ``text`` is (a fragment of) a state name or slogan."""
    if len(text) < 4 or sum(c.isalpha() for c in text) < 0.6 * len(text):
        return None
    folded = _letters(text)
    # one wrong character is allowed only in a (nearly) all-letter reading of 6+ characters
    fuzzy = len(folded) >= 6 and sum(c.isdigit() for c in text) <= 1
    best: tuple[str, float] | None = None
    for code, st in table()[1].items():
        for cue in st.cues:
            if len(cue) < 4:
                continue
            if folded in cue or (fuzzy and len(folded) >= 0.5 * len(cue) and _near_in(folded, cue)):
                strength = min(1.0, len(folded) / len(cue)) * (1.0 if cue == st.name else 0.9)
                if best is None or strength > best[1]:
                    best = (code, strength)
    return best


def _near_in(word: str, cue: str) -> bool:
    """``word`` within one edit of a same-length piece of ``cue`` (``VIRGINA``, ``JERMONT``)."""
    n = len(word)
    for size in (n - 1, n, n + 1):
        for i in range(0, max(1, len(cue) - size + 1)):
            piece = cue[i : i + size]
            if abs(len(piece) - n) <= 1 and _edit1(word, piece):
                return True
    return False


def _edit1(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) <= 1
    if len(a) > len(b):
        a, b = b, a
    return any(b[:i] + b[i + 1 :] == a for i in range(len(b)))


def is_decoration(text: str) -> bool:
    """A state name, slogan, registration sticker or label word: never a plate of its own."""
    if _STICKER.match(text) or _YEAR.match(text) or text in _WORDS or _letters(text) in _WORDS:
        return True
    folded = _letters(text)
    if len(text) >= 6 and sum(c.isdigit() for c in text) <= 1 and any(
            len(w) >= 6 and _edit1(folded, w) for w in _WORDS):
        return True  # a badge or label misread by one character (SUSARU, CHEVR0LE)
    if len(text) >= 5 and any(folded.startswith(w) or (folded.endswith(w) and text.endswith(w))
                              for w in SIGN_WORDS):
        return True
    cue = cue_state(text)
    return cue is not None and (len(text) >= 5 or cue[1] >= 0.99)


def format_weight(text: str, state: str | None) -> float:
    """Weight of ``text``'s letter/digit pattern among ``state``'s formats (a mixture over all
    states weighted by their share of registrations when ``state`` is None)."""
    _, states = table()
    p = pattern(text)
    if state is not None:
        st = states.get(state.upper())
        return st.formats.get(p, 0.0) if st else 0.0
    return sum(s.prior * s.formats.get(p, 0.0) for s in states.values())


def format_factor(weight: float, best: float, floor: float = 0.6, common: float = 0.3) -> float:
    """Re-ranking factor ``floor``..1: a candidate's format weight relative to the best weight
    among the candidates of the same reading (1 when none matches a format, so vanity plates
    keep the reader's order). A candidate that fits no format at all (a vanity plate, or a
    misread serial) loses up to 40 % as the best look-alike's format approaches ``common``.
    A format the state really issues, at least ``SAME_ENOUGH`` as common as the best one (a
    commercial series beside the standard one), is not demoted: the reader decides there."""
    if best <= 0:
        return 1.0
    if weight <= 0:
        return 1.0 - (1.0 - KNOWN_FLOOR) * min(1.0, best / common)
    return floor + (1.0 - floor) * min(1.0, weight / (SAME_ENOUGH * best))


def us_text(text: str, state: str | None) -> str:
    """The NCIC spelling: ``O`` is written ``0`` except in a letter position of a format
    the text matches (``NOX218`` stays, a vanity ``CUSTOM`` becomes ``CUST0M``)."""
    if "O" not in text:
        return text
    if format_weight(text, state) > 0:
        return text
    return text.replace("O", "0")


def guess_state(cue_votes: dict[str, float], text: str, hint: str | None = None) -> tuple[str, float]:
    """``(state code, confidence 0-100)``: the hint, else the strongest cue, else the format.

    Returns ``("", 0.0)`` when nothing points anywhere.
    """
    _, states = table()
    if hint:
        return hint.upper(), 100.0
    if cue_votes:
        code, strength = max(cue_votes.items(), key=lambda kv: kv[1])
        return code, round(60.0 + 35.0 * min(1.0, strength), 1)
    p = pattern(text)
    post = {code: s.prior * s.formats.get(p, 0.0) for code, s in states.items()}
    total = sum(post.values())
    if total <= 0:
        return "", 0.0
    code = max(post, key=lambda c: post[c])
    return code, round(100.0 * post[code] / total, 1)


def _us_prior(text: str) -> float:
    """The generic structure prior without the penalties that do not hold for US serials (all
    digits, a lone last letter, 5+ digit runs); all-letter texts keep theirs (signs, words)."""
    return length_prior(text) * (0.9 if text.isalpha() else 1.0)


def rerank(cands: list[tuple[str, float]], state: str | None, sure: bool = True) -> list[tuple[str, float]]:
    """Candidates re-scored by :func:`format_factor` and spelt by :func:`us_text`, best first.

    ``sure``: the plate is known to be American (hint, state cue, or a 2:1 plate crop);
    otherwise an all-letter text keeps its letter O (another country's word-like plate). Every candidate stays (a look-alike the prior demotes can still
    hit a hotlist).
    """
    spelt = [(us_text(text, state) if sure or not text.isalpha() else text,
              min(100.0, conf * _us_prior(text) / max(plate_prior(text), 1e-6)))
             for text, conf in cands]
    weights = {t: format_weight(t, state) for t, _ in spelt}
    top = max(weights.values(), default=0.0)
    best: dict[str, float] = {}
    for t, conf in spelt:
        if state:
            c = conf * format_factor(weights[t], top, KNOWN_FLOOR, 0.3)
        else:
            c = conf * format_factor(weights[t], top, UNKNOWN_FLOOR, 0.08)
        if c > best.get(t, -1.0):
            best[t] = c
    return sorted(((t, round(c, 3)) for t, c in best.items()), key=lambda kv: (-kv[1], kv[0]))
