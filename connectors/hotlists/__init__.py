"""Hotlist importers: CA DOJ CLEW, NCIC fixed-width, OpenALPR CSV and native CSV."""

from .clew import CLEW_LISTS, parse_clew
from .common import (DEFAULT_SKIP_LIST, HotlistFormatError, ImportOptions, ImportReport,
                     RejectedRow, personal_data_in_text)
from .csvfmt import parse_native, parse_openalpr, write_native
from .loader import FORMATS, apply_import, detect_format, load_file, load_run_list, parse_text, read_text
from .ncic import NCIC_LISTS, parse_ncic

__all__ = [
    "CLEW_LISTS", "DEFAULT_SKIP_LIST", "FORMATS", "HotlistFormatError", "ImportOptions", "ImportReport",
    "NCIC_LISTS", "RejectedRow", "apply_import", "detect_format", "load_file", "load_run_list",
    "parse_clew", "parse_native", "parse_ncic", "parse_openalpr", "parse_text", "personal_data_in_text",
    "read_text", "write_native",
]
