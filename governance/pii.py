"""Personal data in free text (State Auditor 2019-118 F2): names, dates of birth, addresses.

One check for every channel that stores free text next to a plate (API, console, CLI, and
the file importer's own :func:`alpr.connectors.hotlists.personal_data_in_text`, which this
extends): hotlists carry plates and case references, never people.
"""

from __future__ import annotations

import re
import time
from typing import Optional

from alpr.connectors.hotlists import personal_data_in_text

_DATES = re.compile(r"\b(?P<y1>(?:19|20)\d{2})[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])\b"
                    r"|\b(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?P<y2>(?:19|20)\d{2})\b")
MIN_DRIVER_AGE_Y = 14  # a date at least this many years back reads as a date of birth
_AGE = re.compile(r"\b(AGED?|YOA|Y/O|YEARS?\s+OLD)\b", re.I)
_LIVES = re.compile(r"\b(LIVES|LIVING|RESIDES|RESIDING|STAYS)\b", re.I)
_RELATION = re.compile(r"\b(EX[-\s]?)?(GIRL\s?FRIEND|BOY\s?FRIEND|WIFE|HUSBAND|SPOUSE|FIANC[EÉ]E?|NEIGHBOU?R|"
                       r"MOTHER[-\s]IN[-\s]LAW|EX[-\s]WIFE|EX[-\s]HUSBAND)'?S?\b", re.I)
# a person named after a role word, with or without a colon: "suspect John Smith", "owner: J. Doe"
_ROLE_NAME = re.compile(r"\b(?i:SUSPECT|OWNER|DRIVER|SUBJECT|NAMED|MR|MRS|MS|MISS|WANTED|R/?O)\.?\s*[:=#-]?\s*"
                        r"[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
_PHONE = re.compile(r"\(?\b\d{3}\)?[-.\s]\d{3}[-.\s]\d{4}\b")


def personal_data(text: Optional[str]) -> Optional[str]:
    """What kind of personal data ``text`` seems to carry, or None."""
    if not text:
        return None
    kind = personal_data_in_text(text)
    if kind:
        return kind
    this_year = time.gmtime().tm_year
    for m in _DATES.finditer(text):
        if this_year - int(m.group("y1") or m.group("y2")) >= MIN_DRIVER_AGE_Y:
            return "a date of birth"
    for rx, what in ((_AGE, "an age"), (_LIVES, "an address"),
                     (_ROLE_NAME, "a name"), (_RELATION, "a personal relationship"), (_EMAIL, "an e-mail address"),
                     (_PHONE, "a phone number")):
        if rx.search(text):
            return what
    return None
