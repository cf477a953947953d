"""Hotlist engine: normalisation, entry validation, matcher, alert dedupe, retro search, reload."""

from .entries import EntryError, entry_problems, is_expired, is_ncic_sourced, make_entry_id, validate_entry
from .matcher import Hit, HotlistMatcher, match_one, search_pattern_regex
from .normalize import DEFAULT_OCR_TABLE, OcrTable, normalize_plate

__all__ = [
    "DEFAULT_OCR_TABLE", "EntryError", "Hit", "HotlistMatcher", "OcrTable", "entry_problems",
    "is_expired", "is_ncic_sourced", "make_entry_id", "match_one", "normalize_plate",
    "search_pattern_regex", "validate_entry",
]
