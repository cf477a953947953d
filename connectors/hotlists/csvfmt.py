"""CSV hotlists: OpenALPR's normalised ``Plate Number,Description,Match Strategy`` and the
native CSV carrying every field of :class:`alpr.records.HotlistEntry` (plus ``action``
add|remove for incremental files)."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import datetime, timezone
from typing import Optional

from alpr.records import HotlistEntry

from .common import (OWNER_COLUMNS, HotlistFormatError, ImportOptions, ImportReport, RowFilter, base_fields,
                     column_key, personal_columns)

OPENALPR_HEADER = ("Plate Number", "Description", "Match Strategy")
NATIVE_FIELDS = tuple(f.name for f in dataclasses.fields(HotlistEntry))
_BOOL = {"1": True, "true": True, "yes": True, "y": True, "0": False, "false": False, "no": False, "n": False, "": False}


def _rows(text: str):
    """(line number, fields, problem) per physical line. Hotlist fields never span lines, so
    each line is parsed on its own: an unbalanced quote is that line's problem instead of
    swallowing the rest of the file into one field."""
    for line_no, line in enumerate(text.splitlines(), start=1):
        try:
            row = next(csv.reader([line], strict=True), [])
        except csv.Error as exc:
            yield line_no, [line], f"malformed CSV row ({exc}; check the quotes)"
            continue
        yield line_no, row, None


def _raw(row: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()


def parse_openalpr(text: str, opts: ImportOptions) -> ImportReport:
    if not opts.list_code:
        raise HotlistFormatError("OpenALPR CSV import needs a list code")
    rep = ImportReport(format="openalpr")
    flt = RowFilter(rep, opts)
    fields = base_fields(opts, "csv", clets_default=False)
    header_done = False
    for line_no, row, problem in _rows(text):
        if not any(c.strip() for c in row):
            rep.blank(line_no)
            continue
        if problem:
            header_done = True
            rep.rows_read += 1
            rep.reject(line_no, row[0], problem)
            continue
        if not header_done:
            header_done = True
            if tuple(c.strip() for c in row[:3]) == OPENALPR_HEADER:
                continue
            if row and row[0].strip().lower() == "plate number":
                raise HotlistFormatError(f"line {line_no}: OpenALPR header must be "
                                         f"{','.join(OPENALPR_HEADER)}, got {','.join(row)}")
        rep.rows_read += 1
        if len(row) > 3:
            rep.reject(line_no, _raw(row), f"{len(row)} columns (3 expected; quote descriptions with commas)")
            continue
        plate = row[0]
        desc = row[1].strip() if len(row) > 1 else ""
        strategy = (row[2].strip().lower() if len(row) > 2 else "") or opts.match_strategy
        if strategy not in ("exact", "lenient"):
            rep.reject(line_no, _raw(row), f"match strategy must be exact or lenient, got {strategy!r}")
            continue
        entry = HotlistEntry(entry_id="", plate=plate, description=desc, **dict(fields, match_strategy=strategy))
        flt.add(line_no, _raw(row), entry, allow_wildcard=True)
    return rep


def _parse_ts(value: str) -> Optional[float]:
    v = value.strip()
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"bad timestamp {value!r} (epoch seconds or ISO 8601 expected)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _convert(name: str, value: str, default):
    v = value.strip()
    if name in ("priority", "max_ocr_subs", "max_edits"):
        if not v:
            return default
        try:
            return int(v)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if name in ("covert", "fuzzy", "clets_derived"):
        if not v:
            return default
        b = _BOOL.get(v.lower())
        if b is None:
            raise ValueError(f"{name} must be true/false, got {value!r}")
        return b
    if name in ("expires_at", "created_ts"):
        ts = _parse_ts(v)
        return default if ts is None else ts
    if name == "shared_with":
        return tuple(x.strip() for x in v.replace("|", ";").split(";") if x.strip())
    return v if v else default


def parse_native(text: str, opts: ImportOptions) -> ImportReport:
    rep = ImportReport(format="csv")
    flt = RowFilter(rep, opts)
    defaults = base_fields(opts, "csv", clets_default=False)
    header: Optional[list[str]] = None
    cols: dict[str, int] = {}
    pii: dict[str, str] = {}
    for line_no, row, problem in _rows(text):
        if not any(c.strip() for c in row):
            rep.blank(line_no)
            continue
        if problem and header is None:
            raise HotlistFormatError(f"line {line_no}: cannot read the CSV header: {problem}")
        if problem:
            rep.rows_read += 1
            rep.reject(line_no, row[0], problem)
            continue
        if header is None:
            header = [c.strip() for c in row]
            keys = [column_key(c) for c in header]
            wanted = {column_key(f): f for f in NATIVE_FIELDS + ("action",)}
            cols = {wanted[k]: i for i, k in enumerate(keys) if k in wanted}
            pii = {c: kind for c, kind in personal_columns(header).items()}
            if "plate" not in cols:
                raise HotlistFormatError(f"line {line_no}: native hotlist CSV needs a 'plate' column; "
                                         f"header is {','.join(header)}")
            unknown = [c for c, k in zip(header, keys) if k not in wanted and c not in pii]
            if unknown:
                raise HotlistFormatError(f"line {line_no}: unknown column(s) {', '.join(unknown)}; "
                                         f"allowed: {', '.join(NATIVE_FIELDS)}, action")
            owner = [f for f in OWNER_COLUMNS if f in cols] if opts.owner_scoped else []
            if owner:
                raise HotlistFormatError(
                    f"line {line_no}: column(s) {', '.join(owner)} refused: an import's entries belong to "
                    "the importing agency (a state feed: to none), carry the format's source and are "
                    "shared only by agreement; remove the column(s)")
            continue
        rep.rows_read += 1
        raw = _raw(row)
        if len(row) != len(header):
            rep.reject(line_no, raw, f"{len(row)} columns, header has {len(header)}")
            continue
        filled = [f"{c} ({kind})" for c, kind in pii.items() if row[header.index(c)].strip()]
        if filled:
            rep.reject(line_no, raw, "personal data refused: column " + ", ".join(filled)
                       + " must not be imported into a hotlist")
            continue
        try:
            kw = {}
            for name in NATIVE_FIELDS:
                default = defaults.get(name, "" if name not in ("shared_with",) else ())
                if name in cols:
                    kw[name] = _convert(name, row[cols[name]], default)
                elif name in defaults:
                    kw[name] = default
            kw.setdefault("entry_id", "")
            if not kw.get("list_code"):
                raise ValueError("missing list_code (column or --list)")
            action = row[cols["action"]].strip().lower() if "action" in cols else "add"
            if action not in ("add", "remove", ""):
                raise ValueError(f"action must be add or remove, got {action!r}")
            entry = HotlistEntry(**kw)
        except (ValueError, TypeError) as exc:
            rep.reject(line_no, raw, str(exc))
            continue
        flt.add(line_no, raw, entry, remove=(action == "remove"), allow_wildcard=True)
    if header is None:
        raise HotlistFormatError("empty native hotlist CSV (no header)")
    return rep


def write_native(entries, fh) -> None:
    """Write entries as native CSV (quoted where needed)."""
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(NATIVE_FIELDS)
    for e in entries:
        d = e.to_dict()
        row = []
        for name in NATIVE_FIELDS:
            v = d[name]
            if name == "shared_with":
                v = ";".join(v)
            elif v is None:
                v = ""
            row.append(v)
        w.writerow(row)
