"""Shared importer machinery: options, report, per-row filters, personal-data refusal.

Processing order per row (as OpenALPR's importer, field notes 1.1/1.7): parse -> personal
data check -> normalise plate -> empty plate -> state validity / whitelist -> skip list ->
entry validation (wildcards, agency expiry ...) -> per-list duplicate filter (first wins).
Every rejected row lands in :attr:`ImportReport.rejected` with its line number and reason;
the import goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from alpr.hotlist.entries import entry_problems, make_entry_id
from alpr.hotlist.normalize import normalize_plate, valid_state
from alpr.pii import personal_data
from alpr.records import HotlistEntry

DEFAULT_SKIP_LIST: tuple[str, ...] = ("0", "00", "000", "190")


class HotlistFormatError(ValueError):
    """The file as a whole cannot be imported (unreadable, unknown format, bad header)."""


@dataclass(frozen=True)
class RejectedRow:
    line_no: int
    raw: str
    reason: str


@dataclass
class ImportReport:
    """Outcome of one import: accepted entries, removals (incremental), rejected rows."""

    format: str
    entries: list[HotlistEntry] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)  # entry ids to remove (incremental)
    rejected: list[RejectedRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # file-level problems (footer count ...)
    rows_read: int = 0
    skipped_other_lists: int = 0
    blank_lines: list[int] = field(default_factory=list)  # empty rows: skipped, and reported

    def blank(self, line_no: int) -> None:
        self.blank_lines.append(line_no)

    def reject(self, line_no: int, raw: str, reason: str) -> None:
        self.rejected.append(RejectedRow(line_no, raw.rstrip("\r\n"), reason))

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        parts = [f"format={self.format}", f"rows={self.rows_read}", f"accepted={len(self.entries)}",
                 f"rejected={len(self.rejected)}"]
        if self.removals:
            parts.append(f"removals={len(self.removals)}")
        if self.blank_lines:
            parts.append(f"blank={len(self.blank_lines)}")
        if self.skipped_other_lists:
            parts.append(f"other_lists={self.skipped_other_lists}")
        if self.errors:
            parts.append(f"errors={len(self.errors)}")
        return " ".join(parts)


@dataclass(frozen=True)
class ImportOptions:
    """Per-list import settings."""

    list_code: str = ""
    list_name: str = ""
    state_whitelist: Optional[frozenset[str]] = None  # None = all states; rows without state pass
    skip_list: tuple[str, ...] = DEFAULT_SKIP_LIST
    source: str = ""  # default per format when empty
    match_strategy: str = "exact"
    priority: int = 50
    covert: bool = False
    agency: str = ""  # the owning agency of every entry ("" = a state feed, every agency's)
    case_number: str = ""  # for rows that carry none
    owner_scoped: bool = False  # a store import: the owner comes from the caller, never from the file
    fuzzy: bool = True
    max_ocr_subs: int = 1
    max_edits: int = 1
    expires_at: Optional[float] = None
    clets_derived: Optional[bool] = None  # None = per format default
    list_codes: Optional[frozenset[str]] = None  # NCIC: parse codes to keep (None = all)
    created_ts: float = 0.0
    on_row: Optional[Callable[[int], None]] = field(default=None, compare=False, repr=False)  # progress: line no


# Columns a file may not set in a store import (``owner_scoped``): the owning agency is the
# caller's, the source the format's (an NCIC source alerts on every agency's cameras), sharing is
# decided by agreements, and ids are derived from the owner (a file's id could address another
# agency's entry).
OWNER_COLUMNS = ("agency", "source", "shared_with", "entry_id")


# --------------------------------------------------------------------------- personal data
# columns that name personal data; the free-text check is alpr.pii.personal_data (every channel's)
PERSONAL_COLUMNS = {
    "name": "name", "firstname": "name", "lastname": "name", "fullname": "name", "surname": "name",
    "middlename": "name", "ownername": "name", "owner": "name", "registeredowner": "name",
    "subjectname": "name", "dob": "date of birth", "dateofbirth": "date of birth",
    "birthdate": "date of birth", "birthday": "date of birth", "age": "date of birth",
    "address": "address", "street": "address", "streetaddress": "address", "homeaddress": "address",
    "addr": "address", "city": "address", "zip": "address", "zipcode": "address", "postcode": "address",
    "ssn": "social security number", "socialsecurity": "social security number",
    "driverlicense": "driver licence", "driverlicence": "driver licence", "driverslicense": "driver licence",
    "driverslicence": "driver licence", "dl": "driver licence", "dlnumber": "driver licence",
    "oln": "driver licence", "phone": "phone number", "email": "e-mail address",
}


def column_key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def personal_columns(header: Sequence[str]) -> dict[str, str]:
    """Header columns that carry personal data -> what kind."""
    out = {}
    for col in header:
        kind = PERSONAL_COLUMNS.get(column_key(col))
        if kind:
            out[col] = kind
    return out


def personal_data_in_text(text: str) -> Optional[str]:
    """What kind of personal data ``text`` looks like it carries, or None: the one check of every
    channel (:func:`alpr.pii.personal_data`; the governance API and console use it too)."""
    return personal_data(text)


_DATE = re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b(19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2}\b")


def _looks_like_date(text: str) -> Optional[str]:
    """A calendar date where a plate belongs is a date of birth pasted into the wrong column."""
    return "date of birth" if text and _DATE.search(text) else None


# --------------------------------------------------------------------------- row pipeline
class RowFilter:
    """Applies the shared per-row rules and collects the report."""

    def __init__(self, report: ImportReport, opts: ImportOptions):
        self.report = report
        self.opts = opts
        self._seen: dict[tuple[str, str, str], int] = {}  # (list, plate, state) -> first line

    def add(self, line_no: int, raw: str, entry: HotlistEntry, remove: bool = False,
            allow_wildcard: bool = False, check_text: bool = True) -> Optional[HotlistEntry]:
        """Validate one parsed entry; accept it (or its removal) or record the rejection.
        ``check_text=False`` for descriptions the parser built itself from coded fields."""
        rep, opts = self.report, self.opts
        if opts.on_row is not None:
            opts.on_row(line_no)
        fields = [("plate", entry.plate)]
        if check_text:
            fields += [("description", entry.description), ("case number", entry.case_number)]
        for column, text in fields:
            kind = personal_data_in_text(text) or (_looks_like_date(text) if column == "plate" else None)
            if kind:
                rep.reject(line_no, raw, f"personal data ({kind}) in the {column} column: refused; hotlists "
                                         "carry plates and case references only")
                return None
        plate = normalize_plate(entry.plate, allow_wildcard=allow_wildcard)
        if "*" in entry.plate and not allow_wildcard:
            rep.reject(line_no, raw, f"partial plate with '*' not accepted in {rep.format} feeds")
            return None
        if not plate.replace("*", ""):
            rep.reject(line_no, raw, "empty plate")
            return None
        state = entry.state
        if state:
            if not valid_state(state):
                rep.reject(line_no, raw, f"invalid state code {state!r}")
                return None
            if opts.state_whitelist is not None and state not in opts.state_whitelist:
                rep.reject(line_no, raw, f"state {state} not in whitelist")
                return None
        if plate in opts.skip_list:
            rep.reject(line_no, raw, f"plate {plate!r} is on the skip list")
            return None
        entry_id = entry.entry_id or make_entry_id(entry.list_code, plate, state, entry.agency)
        e = HotlistEntry.from_dict({**entry.to_dict(), "plate": plate, "entry_id": entry_id})
        if remove:
            rep.removals.append(entry_id)
            return None
        problems = entry_problems(e)
        if problems:
            rep.reject(line_no, raw, "; ".join(problems))
            return None
        key = (e.list_code, plate, state)
        first = self._seen.get(key)
        if first is not None:
            rep.reject(line_no, raw, f"duplicate of line {first} in list {e.list_code}")
            return None
        self._seen[key] = line_no
        rep.entries.append(e)
        return e


def base_fields(opts: ImportOptions, source: str, clets_default: bool) -> dict:
    """HotlistEntry keyword defaults from the options."""
    return dict(
        list_code=opts.list_code, list_name=opts.list_name or opts.list_code, priority=opts.priority,
        covert=opts.covert, source=opts.source or source, match_strategy=opts.match_strategy,
        agency=opts.agency, case_number=opts.case_number, fuzzy=opts.fuzzy, max_ocr_subs=opts.max_ocr_subs, max_edits=opts.max_edits,
        expires_at=opts.expires_at, created_ts=opts.created_ts,
        clets_derived=clets_default if opts.clets_derived is None else opts.clets_derived,
    )


def iter_lines(text: str) -> Iterable[tuple[int, str]]:
    for i, line in enumerate(text.splitlines(), start=1):
        yield i, line
