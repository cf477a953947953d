"""CTC decoding constrained to licence-plate characters, and top-N candidate generation.

The recogniser's 6625 classes are folded into a small plate alphabet: CTC blank, ``A-Z``,
``0-9`` (lower-case and full-width forms fold into their upper-case ASCII letter) and one
*separator* class (space, dash, dot ...). Every other class (CJK, punctuation) is masked out
before the argmax, and each timestep is renormalised over what is left.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

import numpy as np

PLATE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
SEPARATORS = frozenset(" -.·•:_|/")
SEP = " "
#: reduced alphabet: index 0 blank, 1..36 plate chars, 37 separator
REDUCED = ["", *PLATE_CHARS, SEP]
SEP_INDEX = len(REDUCED) - 1


def fold_matrix(charset: list[str]) -> np.ndarray:
    """``float32 [C, 38]`` 0/1 matrix folding the model classes into the plate alphabet."""
    m = np.zeros((len(charset), len(REDUCED)), dtype=np.float32)
    m[0, 0] = 1.0  # CTC blank
    for i, ch in enumerate(charset[1:], start=1):
        if ch in SEPARATORS:
            m[i, SEP_INDEX] = 1.0
            continue
        norm = unicodedata.normalize("NFKC", ch).upper()
        if len(norm) == 1 and norm in PLATE_CHARS:
            m[i, 1 + PLATE_CHARS.index(norm)] = 1.0
    return m


@dataclass(frozen=True)
class DecodedChar:
    """One emitted character: its best class, confidence and the ranked alternatives."""

    char: str  # a plate char, or SEP
    prob: float
    t0: int  # first timestep of the run
    t1: int  # last timestep of the run
    alternatives: tuple[tuple[str, float], ...]  # (plate char, prob), best first, excl. char
    drop_prob: float  # probability mass that this step is blank/separator instead


@dataclass(frozen=True)
class DecodedLine:
    chars: tuple[DecodedChar, ...]
    timesteps: int

    @property
    def text(self) -> str:
        """Plate characters only (separators removed)."""
        return "".join(c.char for c in self.chars if c.char != SEP)

    @property
    def groups(self) -> list[list[DecodedChar]]:
        """Character runs split at separators."""
        out: list[list[DecodedChar]] = [[]]
        for c in self.chars:
            if c.char == SEP:
                if out[-1]:
                    out.append([])
            else:
                out[-1].append(c)
        return [g for g in out if g]

    def plate_chars(self) -> list[DecodedChar]:
        return [c for c in self.chars if c.char != SEP]


def fold_probs(probs: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """``[N,T,C]`` softmax -> ``[N,T,38]`` renormalised plate-alphabet probabilities."""
    n, t, c = probs.shape
    used = np.flatnonzero(fold.any(axis=1))  # the ~80 classes that fold into the alphabet
    red = np.ascontiguousarray(probs.reshape(n * t, c)[:, used]) @ fold[used]
    red /= np.maximum(red.sum(axis=1, keepdims=True), 1e-9)
    return red.reshape(n, t, fold.shape[1])


def ctc_decode(red: np.ndarray, n_alts: int = 3) -> DecodedLine:
    """Greedy CTC decoding of one ``[T,38]`` reduced probability matrix."""
    idx = red.argmax(axis=1)
    chars: list[DecodedChar] = []
    t = 0
    T = len(idx)
    while t < T:
        k = int(idx[t])
        t_end = t
        while t_end + 1 < T and idx[t_end + 1] == k:
            t_end += 1
        if k != 0:
            run = red[t : t_end + 1, k]
            peak = t + int(run.argmax())
            row = red[peak]
            order = np.argsort(-row[1:SEP_INDEX])[: n_alts + 1] + 1
            alts = tuple(
                (REDUCED[j], float(row[j])) for j in order if j != k and row[j] > 1e-4
            )[:n_alts]
            drop = float(row[0] + (row[SEP_INDEX] if k != SEP_INDEX else 0.0))
            chars.append(DecodedChar(REDUCED[k], float(row[k]), t, t_end, alts, drop))
        t = t_end + 1
    return DecodedLine(tuple(chars), T)


def geometric_confidence(probs: list[float]) -> float:
    """Geometric mean of probabilities, in percent."""
    if not probs:
        return 0.0
    logs = [math.log(max(p, 1e-6)) for p in probs]
    return 100.0 * math.exp(sum(logs) / len(logs))


#: letter/digit pairs that plate fonts draw (nearly) alike
CONFUSABLE = {"O": "0", "Q": "0", "D": "0", "I": "1", "Z": "2", "S": "5", "B": "8", "G": "6", "L": "4"}
CONFUSABLE_BACK = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G"}


def blocks(text: str) -> list[str]:
    """Split a plate string into maximal runs of letters and of digits."""
    return re.findall(r"[A-Z]+|[0-9]+", text)


# Jurisdiction names printed on plates (state/province bands): a reading that is one of them,
# or a fragment of one, is the band, not the registration.
JURISDICTIONS = (
    "ALABAMA ALASKA ARIZONA ARKANSAS CALIFORNIA COLORADO CONNECTICUT DELAWARE FLORIDA GEORGIA HAWAII IDAHO "
    "ILLINOIS INDIANA IOWA KANSAS KENTUCKY LOUISIANA MAINE MARYLAND MASSACHUSETTS MICHIGAN MINNESOTA "
    "MISSISSIPPI MISSOURI MONTANA NEBRASKA NEVADA NEWHAMPSHIRE NEWJERSEY NEWMEXICO NEWYORK NORTHCAROLINA "
    "NORTHDAKOTA OHIO OKLAHOMA OREGON PENNSYLVANIA RHODEISLAND SOUTHCAROLINA SOUTHDAKOTA TENNESSEE TEXAS UTAH "
    "VERMONT VIRGINIA WASHINGTON WESTVIRGINIA WISCONSIN WYOMING ONTARIO QUEBEC ALBERTA MANITOBA"
).split()


def is_jurisdiction_word(text: str) -> bool:
    """``TEXAS``, ``LLINOIS``: a (fragment of a) state or province name, all letters, 4+ long."""
    return len(text) >= 4 and text.isalpha() and any(text in name for name in JURISDICTIONS)


LENGTH_PRIOR = {2: 0.35, 3: 0.55, 4: 0.75, 5: 0.9, 6: 0.97, 7: 1.0, 8: 0.85}


def length_prior(text: str) -> float:
    """The length part of :func:`plate_prior` (plates mostly have 5-7 characters)."""
    n = len(text)
    return LENGTH_PRIOR.get(n, 0.5 if n > 8 else 0.0)


def plate_prior(text: str) -> float:
    """How plate-like a string is (0..1), independent of any one country's format.

    Plates mostly have 5-7 characters, mix letters and digits, rarely have runs of more
    than four digits, and do not end with a lone letter or digit after a block of the other
    kind ("AB123C" and "AB12C3" are unusual, "AB123CD" and "1AB2345" are not).
    """
    n = len(text)
    length = length_prior(text)
    digits = sum(ch.isdigit() for ch in text)
    mix = 1.0 if 0 < digits < n else 0.9
    parts = blocks(text)
    tail = 0.75 if len(parts) >= 2 and len(parts[-1]) == 1 else 1.0
    longest_digits = max((len(b) for b in parts if b[0].isdigit()), default=0)
    run = 1.0 if longest_digits <= 4 else (0.92 if longest_digits == 5 else 0.88)
    band = 0.3 if is_jurisdiction_word(text) else 1.0
    return length * mix * tail * run * band


def candidates(
    chars: list[DecodedChar],
    topn: int = 10,
    min_alt_prob: float = 0.02,
    drop_below: float = 0.9,
    confusable_floor: float = 0.3,
    min_len: int = 2,
    max_len: int = 9,
    prior: Callable[[str], float] | None = plate_prior,
) -> list[tuple[str, float]]:
    """Top-N (plate, confidence %) readings from per-character alternatives.

    Each position may take its best character, an alternative with probability at least
    ``min_alt_prob``, its letter/digit look-alike (``CONFUSABLE``, at least
    ``confusable_floor`` x the best probability) or, when its best probability is below
    ``drop_below``, be dropped (with the blank/separator probability). A reading's
    confidence is the geometric mean of the chosen probabilities in percent (every
    candidate of a line has the same number of positions) times ``prior(text)``.
    """
    options: list[list[tuple[str, float]]] = []
    for c in chars:
        opts = {c.char: c.prob}
        for a, p in c.alternatives:
            if p >= min_alt_prob:
                opts[a] = max(opts.get(a, 0.0), p)
        twin = CONFUSABLE.get(c.char) or CONFUSABLE_BACK.get(c.char)
        if twin is not None:
            opts[twin] = max(opts.get(twin, 0.0), confusable_floor * c.prob)
        if c.prob < drop_below and c.drop_prob >= min_alt_prob:
            opts[""] = c.drop_prob
        options.append(sorted(opts.items(), key=lambda o: -o[1]))
    if not options:
        return []
    beam_width = max(4 * topn, 32)
    # beam over positions: each state (neg log-prob, text)
    beam: list[tuple[float, str]] = [(0.0, "")]
    for opts in options:
        nxt: list[tuple[float, str]] = []
        for nlp, text in beam:
            for ch, p in opts:
                nxt.append((nlp - math.log(max(p, 1e-6)), text + ch))
        beam = heapq.nsmallest(beam_width, nxt)
    n = len(options)
    best: dict[str, float] = {}
    for nlp, text in beam:
        if not (min_len <= len(text) <= max_len):
            continue
        conf = 100.0 * math.exp(-nlp / n) * (prior(text) if prior else 1.0)
        if conf > best.get(text, -1.0):
            best[text] = conf
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:topn]
