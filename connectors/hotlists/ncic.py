"""NCIC fixed-width extract (field notes 1.3): one file feeds several lists by parse code.

``[0:1]`` list code, ``[19:27]`` incident date, ``[27:37]`` plate, ``[37:39]`` state (0 -> O),
``[45:49]`` vehicle year, ``[49:53]`` make (0 -> O), ``[53:56]`` model, ``[58:]`` colour.
The plate field is never rewritten: NCIC-sourced entries compare O and 0 as one character
in the matcher instead. The first line is a header when it does not parse as a record.
"""

from __future__ import annotations

import re

from alpr.hotlist.normalize import normalize_state
from alpr.records import HotlistEntry

from .common import ImportOptions, ImportReport, RowFilter, base_fields, iter_lines

NCIC_LISTS = {
    "A": "Amber Alert", "F": "Felony Vehicle", "W": "Wanted Person", "V": "Stolen Vehicle",
    "P": "Stolen Plate", "M": "Missing Person", "C": "Supervised Release", "H": "Protection Order",
    "K": "Protective Interest", "L": "Violent Person", "R": "Stolen Canadian Vehicle",
    "T": "Gang/Terrorist Member", "X": "Sex Offender",
}
_DATE = re.compile(r"^\d{8}$")


def _check(line: str) -> str | None:
    """Why ``line`` is not an NCIC record (None when it is)."""
    if len(line) < 39:
        return f"short row ({len(line)} chars, plate[27:37] and state[37:39] needed)"
    code = line[0]
    if code not in NCIC_LISTS:
        return f"unknown NCIC list code {code!r}"
    if not _DATE.match(line[19:27]):
        return f"bad incident date {line[19:27]!r} (YYYYMMDD expected)"
    return None


def parse_ncic(text: str, opts: ImportOptions) -> ImportReport:
    rep = ImportReport(format="ncic")
    flt = RowFilter(rep, opts)
    fields = base_fields(opts, "ncic", clets_default=False)
    for line_no, line in iter_lines(text):
        if not line.strip():
            rep.blank(line_no)
            continue
        why = _check(line)
        if line_no == 1 and why is not None:
            continue  # header line
        rep.rows_read += 1
        if why is not None:
            rep.reject(line_no, line, why)
            continue
        code = line[0]
        if opts.list_codes is not None and code not in opts.list_codes:
            rep.skipped_other_lists += 1
            continue
        date = line[19:27]
        plate = line[27:37]
        state = normalize_state(line[37:39], ncic=True)
        year, make, model = line[45:49].strip(), normalize_state(line[49:53], ncic=True), line[53:56].strip()
        colour = line[58:].strip()
        list_name = NCIC_LISTS[code]
        desc = " ".join(x for x in (
            f"{list_name}", f"State: {state}", f"Year: {year}" if year else "", f"Make: {make}" if make else "",
            f"Model: {model}" if model else "", f"Color: {colour}" if colour else "", f"Date: {date}") if x)
        entry_fields = dict(fields, list_code=code, list_name=list_name)
        if opts.list_name and opts.list_codes is not None and len(opts.list_codes) == 1:
            entry_fields["list_name"] = opts.list_name
        entry = HotlistEntry(entry_id="", plate=plate, state=state, description=desc, **entry_fields)
        flt.add(line_no, line, entry, check_text=False)
    return rep
