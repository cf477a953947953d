"""Hotlist matcher: exact, OCR-equivalent, edit-distance-1 and wildcard hits at 1M entries.

Index layout (built once, read-only, nothing cached per query):

* ``_canon``: dict canonical form -> entry (or tuple of entries). The canonical form maps
  every character to its OCR-class representative (and lower case to upper, symbols
  removed), so every OCR-equivalent entry of a read is one dict lookup; the real
  substitutions are then counted against the entry's ``max_ocr_subs``.
* deletion neighbourhood (SymSpell, distance 1) of the canonical forms of entries that
  allow edits: Python ``hash`` of each one-character deletion, stored as a 32-bit
  fingerprint in a sorted ``numpy.uint32`` array with a parallel ``int32`` array of entry
  ids, fronted by a 2-probe Bloom filter in a ``bytes`` object so that the usual miss
  costs two byte look-ups. A read probes its canonical form and its deletions; the read's
  deletions are also looked up in ``_canon`` (the read has an extra character).
* wildcard entries (few) in a small list bucketed by the read lengths they can match.

Every candidate is verified by an O(n) alignment that counts OCR substitutions and edits.

When the optional C extension ``alpr.hotlist._fastmatch`` is built (``pip install -e .``
builds it), the same routes and the same verification run in C over flat arrays (see
``_fastmatch.c``); the index above is the pure-Python fallback and reference. Both return
identical hits in identical order (``tests/test_hotlist_fastmatch.py``). ``Hit.aligned`` is
built on first access, so reads whose hits are only counted or filtered never pay for it.
"""

from __future__ import annotations

import logging
import random
import time
from array import array
from bisect import bisect_left
from dataclasses import FrozenInstanceError, replace
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from alpr.records import Candidate, HotlistEntry
from alpr.connectors.stores.base import plate_pattern_regex

from .entries import MATCH_STRATEGIES, MAX_EDITS, MAX_OCR_SUBS, entry_problems, is_ncic_sourced
from .normalize import DEFAULT_OCR_TABLE, NCIC_SOURCES, OcrTable, is_normalized, normalize_plate

try:  # optional C accelerator, built by setup.py (ext_modules)
    from . import _fastmatch
except ImportError:  # pragma: no cover - depends on the build
    _fastmatch = None

log = logging.getLogger(__name__)

MATCH_TYPES = ("exact", "ocr-equivalent", "edit", "wildcard")
_RANK = {t: i for i, t in enumerate(MATCH_TYPES)}
_OTHER = 1000  # cost of a non-OCR difference (substitution / insertion / deletion)
_FP_MASK = 0xFFFFFFFF

OcrTableLike = Union[OcrTable, Sequence[str]]
CandidateLike = Union[Candidate, tuple]


class Hit:
    """One read plate hitting one entry (immutable).

    ``aligned`` ("<read aligned>~<entry aligned>", ``-`` marks an inserted/dropped char) is
    built on first access from the read, the entry plate and the gap position.
    """

    __slots__ = ("entry", "read_plate", "match_type", "distance", "_gap", "_aligned")
    __match_args__ = ("entry", "read_plate", "match_type", "distance", "aligned")

    entry: HotlistEntry
    read_plate: str
    match_type: str  # exact | ocr-equivalent | edit | wildcard
    distance: int

    def __init__(self, entry: HotlistEntry, read_plate: str, match_type: str, distance: int, aligned: str):
        _init_hit(self, entry, read_plate, match_type, distance, -1, aligned)

    @property
    def aligned(self) -> str:
        a = self._aligned
        if a is None:
            read, ep, g = self.read_plate, self.entry.plate, self._gap
            if g < 0:
                a = f"{read}~{ep}"
            elif len(read) > len(ep):
                a = f"{read}~{ep[:g]}-{ep[g:]}"
            else:
                a = f"{read[:g]}-{read[g:]}~{ep}"
            _set_aligned(self, a)
        return a

    @property
    def sort_key(self) -> tuple:
        return (self.distance, _RANK[self.match_type])

    def _fields(self) -> tuple:
        return (self.entry, self.read_plate, self.match_type, self.distance, self.aligned)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Hit(entry={self.entry!r}, read_plate={self.read_plate!r}, match_type={self.match_type!r}, "
                f"distance={self.distance!r}, aligned={self.aligned!r})")

    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self):
        return (Hit, self._fields())


_SLOT_SET = {name: getattr(Hit, name).__set__ for name in Hit.__slots__}
_set_aligned = _SLOT_SET["_aligned"]


def _init_hit(h: Hit, entry, read_plate, match_type, distance, gap, aligned) -> None:
    s = _SLOT_SET
    s["entry"](h, entry)
    s["read_plate"](h, read_plate)
    s["match_type"](h, match_type)
    s["distance"](h, distance)
    s["_gap"](h, gap)
    s["_aligned"](h, aligned)


def _new_hit(entry, read_plate, match_type, distance, gap, aligned=None) -> Hit:
    h = object.__new__(Hit)
    _init_hit(h, entry, read_plate, match_type, distance, gap, aligned)
    return h


def _strict(hits: list) -> list:
    """Drop the fuzzy hits (OCR-equivalent, edit) of entries marked ``exact``."""
    if hits and any(h.entry.match_strategy == "exact" and h.match_type in _FUZZY for h in hits):
        return [h for h in hits if not (h.entry.match_strategy == "exact" and h.match_type in _FUZZY)]
    return hits


_FUZZY = frozenset({"ocr-equivalent", "edit"})


def _hit_order(h: Hit) -> tuple:
    return (h.entry.priority, h.sort_key, h.entry.entry_id)


def _sort_hits(hits: list) -> None:
    hits.sort(key=_hit_order)


def search_pattern_regex(pattern: str):
    """Search wildcards over stored reads: ``*`` any run (also empty), ``?`` one char.

    Same rules as the stores' query (``alpr.connectors.stores.base.plate_pattern_regex``).
    """
    return plate_pattern_regex(pattern)


def _as_table(t: OcrTableLike) -> OcrTable:
    return t if isinstance(t, OcrTable) else OcrTable(tuple(t))


def _build_translation(table: OcrTable) -> dict:
    """One ``str.translate`` table over all of ASCII: upper-case, drop symbols, canonicalise.
    Covering every ASCII code keeps CPython's fast translate path (no KeyError misses)."""
    tr: dict[int, Optional[str]] = {}
    for i in range(128):
        ch = chr(i)
        if ch.isalnum():
            up = ch.upper()
            tr[i] = table.translation.get(ord(up), up)
        else:
            tr[i] = None
    return tr


def _quick_problems(e: HotlistEntry) -> list[str]:
    """Fast path of :func:`entry_problems` for the common well-formed entry."""
    if (0 <= e.max_ocr_subs <= MAX_OCR_SUBS and 0 <= e.max_edits <= MAX_EDITS
            and e.match_strategy in MATCH_STRATEGIES and e.list_code and e.plate
            and "*" not in e.plate and (e.source != "agency" or e.expires_at is not None)
            and 0 <= e.priority <= 100):
        return []
    return entry_problems(e)


class HotlistMatcher:
    """Read-only index over hotlist entries. Build with :meth:`build`."""

    def __init__(self) -> None:
        raise TypeError("use HotlistMatcher.build(entries)")

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, entries: Iterable[HotlistEntry], ocr_table: OcrTableLike = DEFAULT_OCR_TABLE,
              bloom_bits_per_key: int = 16, accel: Optional[bool] = None) -> "HotlistMatcher":
        """Index ``entries`` (invalid ones land in :attr:`rejected`).

        ``accel``: ``None`` uses the C index when ``alpr.hotlist._fastmatch`` is built and the
        pure-Python index otherwise; ``True`` requires the C index; ``False`` forces Python.
        """
        if accel and _fastmatch is None:
            raise RuntimeError("alpr.hotlist._fastmatch is not built (reinstall with a C compiler: "
                               "pip install -e .); use accel=None or False for the pure-Python index")
        self = object.__new__(cls)
        table = _as_table(ocr_table)
        self.ocr_table = table
        self._tr = _build_translation(table)
        pairs = set()
        for cls_chars in table.classes:
            for a in cls_chars:
                for b in cls_chars:
                    if a != b and table.equivalent(a, b):
                        pairs.add((a, b))
        self._ocr_pairs = frozenset(pairs)
        self.rejected: list[tuple[HotlistEntry, str]] = []
        wild: dict[int, list[tuple[HotlistEntry, str, int]]] = {}
        kept: list[HotlistEntry] = []
        plain: list[HotlistEntry] = []
        for e in entries:
            plate = e.plate
            if "*" in plate or not is_normalized(plate):
                norm = normalize_plate(plate, allow_wildcard=True)
                if norm != plate:
                    e = replace(e, plate=norm)
                    plate = norm
            problems = _quick_problems(e)
            if problems:
                self.rejected.append((e, "; ".join(problems)))
                continue
            kept.append(e)
            if "*" in plate:
                known = plate.replace("*", "")
                k = len(plate) - len(known)
                item = (e, known, k)
                for n in range(len(known), len(known) + k + 1):
                    wild.setdefault(n, []).append(item)
                continue
            plain.append(e)
        self._wild = wild
        self.size = len(kept)
        self.entries: tuple[HotlistEntry, ...] = tuple(kept)  # what was indexed (metrics, merges)
        self.wildcard_count = len(kept) - len(plain)
        plain_t = self.entries if len(plain) == len(kept) else tuple(plain)
        del kept, plain
        self._fast = None
        self._accel = accel
        if accel is not False and _fastmatch is not None:
            try:
                self._fast = _fastmatch.Index(
                    plain_t, self._tr_bytes(), self._pair_bytes(), NCIC_SOURCES, Hit, MATCH_TYPES[:3],
                    normalize_plate, _sort_hits, random.getrandbits(64))
            except (TypeError, ValueError, OverflowError) as exc:
                if accel:
                    raise
                log.warning("hotlist C index unavailable for these entries (%s); using the Python index", exc)
        self._plain = plain_t
        if self._fast is None:
            self._build_py_index(plain_t, bloom_bits_per_key)
        return self

    @property
    def accelerated(self) -> bool:
        """True when queries run in the C index (``alpr.hotlist._fastmatch``)."""
        return self._fast is not None

    def _tr_bytes(self) -> bytes:
        out = bytearray(128)
        for i, v in self._tr.items():
            if v is not None:
                out[i] = ord(v)
        return bytes(out)

    def _pair_bytes(self) -> bytes:
        out = bytearray(128 * 128)
        for a, b in self._ocr_pairs:
            if ord(a) < 128 and ord(b) < 128:
                out[ord(a) * 128 + ord(b)] = 1
        return bytes(out)

    def _build_py_index(self, plain: Sequence[HotlistEntry], bloom_bits_per_key: int) -> None:
        canon: dict[str, object] = {}
        edit_entries: list[HotlistEntry] = []
        edit_canon: list[str] = []
        tr = self._tr
        for e in plain:
            plate = e.plate
            c = plate.translate(tr)
            if c == plate:
                c = plate  # share the entry's string object
            prev = canon.get(c)
            if prev is None:
                canon[c] = e
            elif type(prev) is tuple:
                canon[c] = prev + (e,)
            else:
                canon[c] = (prev, e)
            if e.fuzzy and e.max_edits > 0:
                edit_entries.append(e)
                edit_canon.append(c)
        self._canon = canon
        # the read-has-an-extra-character route only needs edit-enabled entries: a small dict
        # when the big feeds are exact-only (keeps that route in cache), the same dict otherwise
        if len(edit_entries) == len(plain):
            self._edit_canon = canon
        else:
            ec: dict[str, object] = {}
            for c, e in zip(edit_canon, edit_entries):
                prev = ec.get(c)
                ec[c] = e if prev is None else (prev + (e,) if type(prev) is tuple else (prev, e))
            self._edit_canon = ec
        self._edit_entries = edit_entries
        self._build_edit_index(edit_canon, bloom_bits_per_key)

    def _build_edit_index(self, canon_forms: list[str], bits_per_key: int) -> None:
        hashes = array("q")
        owners = array("i")
        by_len: dict[int, tuple[list[str], array]] = {}
        for idx, c in enumerate(canon_forms):
            grp = by_len.get(len(c))
            if grp is None:
                grp = by_len[len(c)] = ([], array("i"))
            grp[0].append(c)
            grp[1].append(idx)
        for n, (forms, idxs) in by_len.items():
            for i in range(n):
                j = i + 1
                hashes.extend([hash(c[:i] + c[j:]) for c in forms])
                owners.extend(idxs)
        nkeys = len(hashes)
        self._has_edit = nkeys > 0
        if not nkeys:
            self._bloom, self._bmask = b"", 0
            self._fps = array("I")
            self._ids = array("i")
            return
        h = np.frombuffer(hashes, dtype=np.int64)
        nbits = 1 << max(13, int(nkeys * bits_per_key - 1).bit_length())
        mask = nbits - 1
        bloom = np.zeros(nbits >> 3, dtype=np.uint8)
        for pos in (h & mask, (h >> 32) & mask):
            np.bitwise_or.at(bloom, pos >> 3, np.left_shift(1, pos & 7).astype(np.uint8))
        fps = (h & _FP_MASK).astype(np.uint32)
        order = np.argsort(fps, kind="stable")
        # array.array, not numpy: bisect and item access on it stay in cheap Python ints
        self._fps = array("I", fps[order].tobytes())
        self._ids = array("i", np.frombuffer(owners, dtype=np.int32)[order].tobytes())
        self._bloom = bloom.tobytes()
        self._bmask = mask

    # ---------------------------------------------------------------- stats
    def memory_bytes(self) -> int:
        """Approximate bytes held by the index structures (not the entry objects)."""
        import sys

        if self._fast is not None:
            return self._fast.nbytes() + sys.getsizeof(self._plain)
        total = sys.getsizeof(self._canon) + sys.getsizeof(self._fps) + sys.getsizeof(self._ids) + len(self._bloom)
        total += sys.getsizeof(self._edit_entries)
        for k, v in self._canon.items():
            if type(v) is tuple:
                total += sys.getsizeof(v)
                if k is not v[0].plate:
                    total += sys.getsizeof(k)
            elif k is not v.plate:
                total += sys.getsizeof(k)
        return total

    # ---------------------------------------------------------------- verify
    def _cost(self, a: str, b: str, ncic: bool) -> int:
        if a == b:
            return 0
        if ncic and a in "0O" and b in "0O":
            return 0
        return 1 if (a, b) in self._ocr_pairs else _OTHER

    def _score(self, read: str, e: HotlistEntry) -> Optional[Hit]:
        """Align ``read`` with entry ``e`` (lengths differ by at most 1) and apply its limits."""
        ep = e.plate
        ncic = is_ncic_sourced(e)
        cost = self._cost
        lr, le = len(read), len(ep)
        if lr == le:
            total = 0
            for a, b in zip(read, ep):
                if a != b:
                    total += cost(a, b, ncic)
            gap = -1
        elif abs(lr - le) == 1:
            longer, shorter = (read, ep) if lr > le else (ep, read)
            ls = len(shorter)
            pre = [0] * (ls + 1)
            for i in range(ls):
                pre[i + 1] = pre[i] + cost(longer[i], shorter[i], ncic)
            suf = [0] * (ls + 1)
            for j in range(ls - 1, -1, -1):
                suf[j] = suf[j + 1] + cost(longer[j + 1], shorter[j], ncic)
            gap = min(range(ls + 1), key=lambda g: pre[g] + suf[g])
            total = pre[gap] + suf[gap] + _OTHER
        else:
            return None
        edits, ocr = divmod(total, _OTHER)
        if ocr > e.max_ocr_subs:  # OCR substitutions past the allowance spend the edit budget
            edits += ocr - e.max_ocr_subs
            ocr = e.max_ocr_subs
        if edits == 0 and ocr == 0:
            mtype = "exact"
        elif not e.fuzzy or ocr > e.max_ocr_subs or edits > e.max_edits:
            return None
        else:
            mtype = "ocr-equivalent" if edits == 0 else "edit"
        return _new_hit(e, read, mtype, edits + ocr, gap)

    @staticmethod
    def _wild_hit(read: str, e: HotlistEntry, known: str) -> Optional[Hit]:
        pos = 0
        marks = ["?"] * len(read)
        for ch in known:
            j = read.find(ch, pos)
            if j < 0:
                return None
            marks[j] = ch
            pos = j + 1
        return _new_hit(e, read, "wildcard", len(read) - len(known), -1,
                        f"{read}~{''.join(marks).replace('?', '*')}")

    # ---------------------------------------------------------------- match
    def lookup(self, plate: str, now: Optional[float] = None) -> list[Hit]:
        """Exact and OCR-equivalent hits only (one dict lookup); no edits, no wildcards."""
        if self._fast is not None:
            return _strict(self._fast.lookup(plate, now))
        v = self._canon.get(plate.translate(self._tr))
        if v is None:
            return []
        return _strict(self._finish(self._eval_group(plate, v, None, now)))

    def match(self, plate: str, now: Optional[float] = None) -> list[Hit]:
        """All hits of one read plate, best first (priority, then distance, then rule). An
        entry whose ``match_strategy`` is ``exact`` hits only exactly (or by its wildcard)."""
        return _strict(self._match_all(plate, now))

    def _match_all(self, plate: str, now: Optional[float] = None) -> list[Hit]:
        if self._fast is not None:
            hits = self._fast.match(plate, now)
            if self._wild:
                c = plate.translate(self._tr)
                bucket = self._wild.get(len(c))
                if bucket:
                    found = {id(h.entry): h for h in hits} or None
                    return self._finish(self._eval_wild(plate, c, bucket, found, now))
            return hits
        c = plate.translate(self._tr)
        canon = self._canon
        v = canon.get(c)
        found: Optional[dict] = None
        if v is not None:
            found = self._eval_group(plate, v, found, now)
        if self._has_edit:
            bloom = self._bloom
            m = self._bmask
            h = hash(c)
            p = h & m
            if bloom[p >> 3] >> (p & 7) & 1:
                p = (h >> 32) & m
                if bloom[p >> 3] >> (p & 7) & 1:
                    found = self._probe(plate, h & _FP_MASK, found, now)
            ecanon = self._edit_canon
            for i in range(len(c)):
                d = c[:i] + c[i + 1:]
                v = ecanon.get(d)  # read has an extra character
                if v is not None:
                    found = self._eval_group(plate, v, found, now)
                h = hash(d)  # cached by the lookup above
                p = h & m
                if bloom[p >> 3] >> (p & 7) & 1:  # 2-probe Bloom filter over entry deletions
                    p = (h >> 32) & m
                    if bloom[p >> 3] >> (p & 7) & 1:
                        found = self._probe(plate, h & _FP_MASK, found, now)
        if self._wild:
            bucket = self._wild.get(len(c))
            if bucket:
                found = self._eval_wild(plate, c, bucket, found, now)
        if found is None:
            return []
        return self._finish(found)

    def match_candidates(self, candidates: Sequence[CandidateLike], best_plate: str,
                         now: Optional[float] = None) -> list[Hit]:
        """Hits for a plate group: "exact" entries match the best plate only and only exactly,
        "lenient" entries any candidate; one hit per entry (the best)."""
        best: dict[str, Hit] = {h.entry.entry_id: h for h in self.match(best_plate, now)}
        seen = {best_plate}
        for cand in candidates:
            p = cand.plate if isinstance(cand, Candidate) else cand[0]
            if p in seen:
                continue
            seen.add(p)
            for h in self.match(p, now):
                if h.entry.match_strategy != "lenient":
                    continue
                old = best.get(h.entry.entry_id)
                if old is None or h.sort_key < old.sort_key:
                    best[h.entry.entry_id] = h
        return sorted(best.values(), key=lambda h: (h.entry.priority, h.sort_key, h.entry.entry_id))

    # ---------------------------------------------------------------- internals
    def _norm(self, plate: str) -> str:
        return plate if is_normalized(plate) else normalize_plate(plate)

    def _eval_group(self, plate: str, v, found: Optional[dict], now: Optional[float]) -> Optional[dict]:
        group = v if type(v) is tuple else (v,)
        read = None
        for e in group:
            if found is not None and id(e) in found:
                continue
            if e.expires_at is not None and e.expires_at <= (time.time() if now is None else now):
                continue
            if read is None:
                read = self._norm(plate)
            hit = self._score(read, e)
            if hit is not None:
                if found is None:
                    found = {}
                found[id(e)] = hit
        return found

    def _probe(self, plate: str, fp: int, found: Optional[dict], now: Optional[float]) -> Optional[dict]:
        fps = self._fps
        i = bisect_left(fps, fp)
        j = i
        n = len(fps)
        while j < n and fps[j] == fp:
            j += 1
        if j == i:
            return found
        ents = self._edit_entries
        return self._eval_group(plate, tuple(ents[k] for k in self._ids[i:j]), found, now)

    def _eval_wild(self, plate: str, c: str, bucket, found: Optional[dict], now: Optional[float]):
        read = self._norm(plate)
        for e, known, _k in bucket:
            if e.expires_at is not None and e.expires_at <= (time.time() if now is None else now):
                continue
            hit = self._wild_hit(read, e, known)
            if hit is not None:
                if found is None:
                    found = {}
                prev = found.get(id(e))
                if prev is None or hit.sort_key < prev.sort_key:
                    found[id(e)] = hit
        return found

    @staticmethod
    def _finish(found: Optional[dict]) -> list[Hit]:
        if not found:
            return []
        hits = list(found.values())
        if len(hits) > 1:
            hits.sort(key=_hit_order)
        return hits

    def __len__(self) -> int:
        return self.size

    def __reduce__(self):
        # rebuilt on unpickling: the C index is not picklable and the Python index's
        # fingerprints use this process's (randomised) str hash
        return (_rebuild, (self.entries, self.ocr_table.classes, self._accel, self.rejected))


def _rebuild(entries, classes, accel, rejected) -> HotlistMatcher:
    m = HotlistMatcher.build(entries, ocr_table=classes, accel=accel)
    m.rejected = list(rejected) + m.rejected
    return m


def match_one(entry: HotlistEntry, plate: str, ocr_table: OcrTableLike = DEFAULT_OCR_TABLE,
              now: Optional[float] = None) -> Optional[Hit]:
    """Convenience: does ``plate`` hit this single entry?"""
    hits = HotlistMatcher.build([entry], ocr_table).match(plate, now)
    return hits[0] if hits else None
