"""Format detection, file loading and applying an import to a :class:`HotlistStore`."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable, Optional

from alpr.connectors.stores.base import HotlistStore
from alpr.hotlist.entries import is_ncic_sourced

from .clew import parse_clew
from .common import HotlistFormatError, ImportOptions, ImportReport
from .csvfmt import parse_native, parse_openalpr
from .ncic import parse_ncic

FORMATS = ("csv", "openalpr", "ncic", "clew")
PARSERS: dict[str, Callable[[str, ImportOptions], ImportReport]] = {
    "csv": parse_native, "openalpr": parse_openalpr, "ncic": parse_ncic, "clew": parse_clew,
}


def detect_format(text: str, name: str = "") -> str:
    """Guess the format from the first non-empty line (and the file name)."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if name.lower().endswith(".tbl") or first.startswith("DATE"):
        return "clew"
    low = first.lower().replace(" ", "")
    if low.startswith("platenumber,"):
        return "openalpr"
    if "," in first and "plate" in [c.strip().lower().strip('"') for c in first.split(",")]:
        return "csv"
    lines = [ln for ln in text.splitlines() if ln.strip()][:3]
    if any(len(ln) >= 39 and ln[19:27].isdigit() and ln[0].isalpha() for ln in lines):
        return "ncic"
    raise HotlistFormatError(f"cannot detect hotlist format of {name or 'input'} "
                             f"(first line {first[:40]!r}); pass --format")


def read_text(path: str | Path) -> str:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise HotlistFormatError(f"cannot read hotlist file {p}: {exc.strerror or exc}") from exc
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_text(text: str, fmt: str = "auto", opts: Optional[ImportOptions] = None, name: str = "") -> ImportReport:
    opts = opts or ImportOptions()
    if fmt == "auto":
        fmt = detect_format(text, name)
    if fmt not in PARSERS:
        raise HotlistFormatError(f"unknown hotlist format {fmt!r}; one of {', '.join(FORMATS)}")
    return PARSERS[fmt](text, opts)


def load_file(path: str | Path, fmt: str = "auto", opts: Optional[ImportOptions] = None) -> ImportReport:
    """Parse one hotlist file; :class:`HotlistFormatError` if it cannot be read at all."""
    return parse_text(read_text(path), fmt, opts, name=str(path))


def apply_import(store: HotlistStore, report: ImportReport, list_code: str, mode: str = "replace",
                 agency: str = "") -> int:
    """Write an import into the store.

    ``replace``: the daily full load: the list is replaced by the accepted entries (refused
    when the report has file-level errors such as a footer count mismatch, so a truncated
    file never wipes a list). ``incremental``: upsert the accepted entries and remove the
    ``removals``. Returns the number of rows written or removed.

    Every write is scoped to (``agency``, ``list_code``), ``agency`` "" being the agency-less
    state feeds: entries owned by anyone else are refused, and so is an agency's entry with a
    state-feed source (those alert on every agency's cameras); an entry id already used by
    another agency's or list's entry refuses the import; a replacement or a removal never touches
    another agency's entries, even of the same list code.
    """
    if mode not in ("replace", "incremental"):
        raise ValueError(f"mode must be replace or incremental, got {mode!r}")
    if report.errors:
        raise HotlistFormatError("import not applied: " + "; ".join(report.errors))
    wrong = {e.list_code for e in report.entries if e.list_code != list_code}
    if wrong:
        raise HotlistFormatError(f"entries of list(s) {', '.join(sorted(wrong))} in an import into list {list_code}")
    agency = agency or ""
    strangers = sum(1 for e in report.entries if (e.agency or "") != agency)
    if strangers:
        raise HotlistFormatError(f"import not applied: {strangers} entries owned by another agency than "
                                 f"{agency or 'none (a state feed)'}")
    if agency and any(is_ncic_sourced(e) for e in report.entries):
        raise HotlistFormatError("import not applied: an agency's entries cannot carry a state-feed source "
                                 "(ncic, clew, clets: those alert on every agency's cameras); state feeds are "
                                 "imported without an agency")
    scope = (agency, list_code)
    owners = {e.entry_id: (e.agency or "", e.list_code) for e in store.load_entries(0.0)}
    taken = sum(1 for e in report.entries if owners.get(e.entry_id, scope) != scope)
    if taken:
        raise HotlistFormatError(f"import not applied: {taken} entry id(s) already used by another list or agency")
    if mode == "replace":
        return store.replace_list(list_code, report.entries, agency=agency)
    n = store.upsert_entries(report.entries) if report.entries else 0
    removals = [i for i in report.removals if owners.get(i) == scope]  # another's id: not found, untouched
    if removals:
        n += store.remove_entries(removals)
    return n


def load_run_list(path: str | Path, list_code: str) -> ImportReport:
    """The hotlist file that ``alpr run --hotlist`` (and the Flink job's ``--hotlist``) starts with:
    a shared list, applied to every agency's cameras like the state feeds. Such a run has no login,
    purpose or access log, so the file may not make entries an agency's own or extend them to
    other agencies (``agency`` / ``shared_with`` columns): those come through ``alpr hotlist
    import`` or the API (owner-scoped and logged) and agreements. ValueError names the problem;
    the report's rejected rows are the caller's to show."""
    report = load_file(path, opts=ImportOptions(list_code=list_code, list_name=list_code))
    if report.errors:
        raise ValueError(f"hotlist {path}: {'; '.join(report.errors)}")
    scoped = sum(1 for e in report.entries if e.agency or e.shared_with)
    if scoped:
        raise ValueError(f"hotlist {path}: {scoped} entr{'y' if scoped == 1 else 'ies'} with an agency or shared_with: "
                         "a file given to `alpr run` is a shared list for every agency's cameras; an agency's "
                         "own entries come through `alpr hotlist import --user ...` or the API (logged, owner-scoped)")
    return report
