"""Retroactive hits: match a newly added entry against stored reads of the last N seconds."""

from __future__ import annotations

from typing import Optional, Sequence

from alpr.connectors.stores.base import ReadQuery, ReadStore
from alpr.records import HotlistEntry, PlateRead

from .entries import is_ncic_sourced
from .matcher import Hit, HotlistMatcher
from .normalize import DEFAULT_OCR_TABLE, normalize_plate


def narrowing_pattern(entry: HotlistEntry) -> Optional[str]:
    """A read-search pattern that every matching read satisfies, or None (scan the window).

    Exact-only entries search their plate (NCIC entries with ``?`` where O/0 may be);
    wildcard entries search their known characters in order (``*`` between them).
    Fuzzy entries cannot be narrowed by a pattern.
    """
    plate = normalize_plate(entry.plate, allow_wildcard=True)
    if entry.is_wildcard:
        known = plate.replace("*", "")
        return "*" + "*".join(known) + "*"
    if entry.fuzzy and (entry.max_ocr_subs > 0 or entry.max_edits > 0):
        return None
    if is_ncic_sourced(entry):
        return "".join("?" if ch in "0O" else ch for ch in plate)
    return plate


def retro_search(store: ReadStore, entry: HotlistEntry, lookback_s: float, now: float,
                 ocr_table=DEFAULT_OCR_TABLE, page_size: int = 5000,
                 agencies: Optional[Sequence[str]] = None) -> list[tuple[PlateRead, Hit]]:
    """Reads captured in ``[now - lookback_s, now]`` that hit ``entry`` (best plate and, for
    lenient entries, the read's candidates), oldest first. ``agencies`` limits the search to
    the reads of those agencies (an agency's entry sees its own and shared reads only)."""
    matcher = HotlistMatcher.build([entry], ocr_table)
    if matcher.rejected:
        raise ValueError(f"entry cannot be matched: {matcher.rejected[0][1]}")
    pattern = narrowing_pattern(entry)
    start = now - lookback_s
    out: list[tuple[PlateRead, Hit]] = []
    seen: set[str] = set()
    while True:
        page = store.search_reads(ReadQuery(plate_pattern=pattern, start_ts=start, end_ts=now,
                                            agencies=agencies, limit=page_size))
        for read in page:
            if read.read_id in seen:
                continue
            seen.add(read.read_id)
            if read.candidates:
                hits = matcher.match_candidates(read.candidates, read.plate, now=now)
            else:
                hits = matcher.match(read.plate, now=now)
            if hits:
                out.append((read, hits[0]))
        if len(page) < page_size:
            break
        nxt = page[-1].capture_ts
        if nxt == start:  # a full page of one timestamp: widen the page instead of looping
            page_size *= 2
        start = nxt
    return out
