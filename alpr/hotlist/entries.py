"""Validation helpers for :class:`alpr.records.HotlistEntry`."""

from __future__ import annotations

from typing import Optional

from alpr.records import HotlistEntry, stable_id

from .normalize import MAX_WILDCARDS, NCIC_SOURCES, normalize_plate

MAX_OCR_SUBS = 2  # Genetec: more "results in too many false-positive matches"
MAX_EDITS = 1  # the deletion-neighbourhood index covers edit distance 1
MATCH_STRATEGIES = ("exact", "lenient")


class EntryError(ValueError):
    """A hotlist entry that cannot be indexed."""


MAX_PLATE_LEN = 10  # NCIC's LIC field; no jurisdiction issues longer plates


def entry_problems(e: HotlistEntry, now: Optional[float] = None) -> list[str]:
    """Everything wrong with ``e``; an empty list means it can be indexed."""
    out: list[str] = []
    plate = normalize_plate(e.plate, allow_wildcard=True)
    if not plate.replace("*", ""):
        out.append("empty plate")
    if len(plate) > MAX_PLATE_LEN:
        out.append(f"plate {plate[:16]!r}... is {len(plate)} characters (at most {MAX_PLATE_LEN}, the NCIC LIC field)")
    stars = plate.count("*")
    if stars > MAX_WILDCARDS:
        out.append(f"wildcard entry has {stars} '*' (at most {MAX_WILDCARDS} allowed)")
    if stars and plate.replace("*", "") and len(plate.replace("*", "")) < 2:
        out.append("wildcard entry needs at least 2 known characters")
    if not e.list_code:
        out.append("missing list_code")
    if e.match_strategy not in MATCH_STRATEGIES:
        out.append(f"match_strategy must be exact or lenient, got {e.match_strategy!r}")
    if not 0 <= e.max_ocr_subs <= MAX_OCR_SUBS:
        out.append(f"max_ocr_subs must be 0..{MAX_OCR_SUBS}, got {e.max_ocr_subs}")
    if not 0 <= e.max_edits <= MAX_EDITS:
        out.append(f"max_edits must be 0..{MAX_EDITS}, got {e.max_edits}")
    if not 0 <= e.priority <= 100:
        out.append(f"priority must be 0..100, got {e.priority}")
    if e.source == "agency" and e.expires_at is None:
        out.append("agency-entered entries must have an expiry (expires_at)")
    if now is not None and e.expires_at is not None and e.expires_at <= now:
        out.append("entry already expired")
    return out


def validate_entry(e: HotlistEntry, now: Optional[float] = None) -> HotlistEntry:
    """Raise :class:`EntryError` listing the problems of ``e``; return it otherwise."""
    problems = entry_problems(e, now)
    if problems:
        raise EntryError(f"hotlist entry {e.entry_id} ({e.plate!r}): " + "; ".join(problems))
    return e


def is_ncic_sourced(e: HotlistEntry) -> bool:
    return e.source.lower() in NCIC_SOURCES


def is_expired(e: HotlistEntry, now: float) -> bool:
    return e.expires_at is not None and e.expires_at <= now


def make_entry_id(list_code: str, plate: str, state: str = "", agency: str = "") -> str:
    """Deterministic id per (owning agency, list, plate, state), so incremental add/remove can
    address it; two agencies' entries for the same plate in lists of the same code never share an
    id (one agency's import can neither overwrite nor remove the other's). Agency-less entries
    (state feeds) keep the id of (list, plate, state)."""
    if agency:
        return stable_id("hotlist", agency, list_code, plate, state)
    return stable_id("hotlist", list_code, plate, state)
