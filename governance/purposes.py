"""Structured purpose codes plus a mandatory case/incident number (461.3(a)(b), 461.5(b)).

Free text is only a supplement: a query with a note but no valid code and case number is
refused (field notes 9: free-text reasons are gamed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

from .errors import ValidationError

DEFAULT_PURPOSES: dict[str, str] = {
    "STOLEN-VEHICLE": "Stolen vehicle or stolen plate investigation",
    "WANTED-PERSON": "Wanted person / active warrant",
    "MISSING-PERSON": "Missing or at-risk person (incl. AMBER/SILVER alerts)",
    "VIOLENT-CRIME": "Homicide, shooting, robbery, assault or other major incident",
    "PROPERTY-CRIME": "Burglary, theft or stolen property recovery",
    "HOMELAND-SECURITY": "Homeland security / suspect interdiction",
    "HOTLIST-HIT": "Response to an ALPR hotlist alert",
    "CIVIL-ADMIN": "Department-related civil or administrative action",
    "SHARE-FULFIL": "Fulfilment of an approved sharing request (461.7)",
    "EVIDENCE": "Evidence hold or discovery request (461.4)",
}

DEFAULT_CASE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-/.:]{2,39}$"


@dataclass(frozen=True)
class Purpose:
    """A validated purpose: ``code`` from the catalog, ``case_number``, optional ``note``."""

    code: str
    case_number: str
    note: str = ""


class PurposeCatalog:
    """The configurable list of purpose codes and the case-number format."""

    def __init__(self, codes: Optional[dict[str, str]] = None, case_pattern: str = DEFAULT_CASE_PATTERN):
        self.codes = dict(codes or DEFAULT_PURPOSES)
        if not self.codes:
            raise ValueError("the purpose catalog needs at least one code")
        self._case_re = re.compile(case_pattern)

    def items(self) -> Iterable[tuple[str, str]]:
        return self.codes.items()

    def validate_case(self, case_number: Optional[str]) -> str:
        case_number = (case_number or "").strip()
        if not case_number:
            raise ValidationError("a case or incident number is required (policy 461.5(b))")
        if not self._case_re.match(case_number):
            raise ValidationError(f"case number {case_number!r} does not match the configured format")
        return case_number

    def validate(self, code: Optional[str], case_number: Optional[str], note: Optional[str] = None) -> Purpose:
        code = (code or "").strip().upper()
        case_number = (case_number or "").strip()
        note = (note or "").strip()
        if not code:
            hint = " (a free-text reason alone is not accepted)" if note else ""
            raise ValidationError(f"a purpose code is required{hint}; choose one of {sorted(self.codes)}")
        if code not in self.codes:
            raise ValidationError(f"unknown purpose code {code!r}; choose one of {sorted(self.codes)}")
        case_number = self.validate_case(case_number)
        if len(note) > 500:
            raise ValidationError("the purpose note is limited to 500 characters")
        return Purpose(code, case_number, note)
