"""California DOJ CLEW fixed-width tables: ``svs.tbl`` stolen vehicles, ``sfr.tbl`` felony
vehicles, ``slr.tbl`` stolen plates (field notes 1.2).

Layout: plate ``[0:8]`` (space padded), state ``[8:10]``, county ``[10:12]``, date of loss
``[12:]`` (YYYYMMDD). Line 1 is a header starting ``DATE``; the footer
``TOTAL RECORD nnnnnnn`` ends the file and its count is checked against the rows read.
"""

from __future__ import annotations

import re

from alpr.records import HotlistEntry

from .common import HotlistFormatError, ImportOptions, ImportReport, RowFilter, base_fields, iter_lines

CLEW_LISTS = {"svs": "Stolen Vehicle", "sfr": "Felony Vehicle", "slr": "Stolen License Plate"}
_FOOTER = re.compile(r"^TOTAL RECORD\s*(\d+)\s*$")
_DATE = re.compile(r"^\d{8}$")


def parse_clew(text: str, opts: ImportOptions) -> ImportReport:
    if not opts.list_code:
        raise HotlistFormatError("CLEW import needs a list code (e.g. svs, sfr, slr)")
    list_name = opts.list_name or CLEW_LISTS.get(opts.list_code.lower(), opts.list_code)
    rep = ImportReport(format="clew")
    flt = RowFilter(rep, opts)
    fields = base_fields(opts, "clew", clets_default=True)
    fields["list_name"] = list_name
    footer_count = None
    header_seen = False
    for line_no, line in iter_lines(text):
        if not line.strip():
            rep.blank(line_no)
            continue
        if line_no == 1 or not header_seen and line.startswith("DATE"):
            if not line.startswith("DATE"):
                raise HotlistFormatError(f"line 1: CLEW header starting 'DATE' expected, got {line[:30]!r}")
            header_seen = True
            continue
        m = _FOOTER.match(line.strip())
        if m:
            footer_count = int(m.group(1))
            continue
        if footer_count is not None:
            rep.reject(line_no, line, "row after the TOTAL RECORD footer")
            continue
        rep.rows_read += 1
        if len(line) < 12:
            rep.reject(line_no, line, f"short row ({len(line)} chars, CLEW rows have plate[0:8] state[8:10] "
                                      "county[10:12] date[12:])")
            continue
        plate, state, county, date = line[0:8], line[8:10], line[10:12], line[12:].strip()
        if not state.isalpha():
            rep.reject(line_no, line, f"invalid state code {state!r} (row not padded to the CLEW layout?)")
            continue
        if date and not _DATE.match(date):
            rep.reject(line_no, line, f"bad date of loss {date!r} (YYYYMMDD expected)")
            continue
        desc = f"{list_name} State: {state} County: {county.strip()} Lost on: {date}"
        entry = HotlistEntry(entry_id="", plate=plate, state=state, description=desc, **fields)
        flt.add(line_no, line, entry, check_text=False)
    if not header_seen:
        raise HotlistFormatError("empty CLEW file: no 'DATE' header line")
    if footer_count is None:
        rep.errors.append("missing 'TOTAL RECORD' footer: file may be truncated")
    elif footer_count != rep.rows_read:
        rep.errors.append(f"footer says TOTAL RECORD {footer_count} but {rep.rows_read} rows were read")
    return rep
