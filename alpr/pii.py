"""Personal data in free text (State Auditor 2019-118 F2, rec. 2): the one check every channel uses.

Hotlists carry plates and case references, never people. The file importer
(:mod:`alpr.connectors.hotlists`, every row's plate, description and case number), the
governance API and console (:mod:`alpr.governance.hotlists` through :mod:`alpr.governance.pii`)
all call :func:`personal_data`, so a text refused on one channel is refused on every other.
It lives here, in the core package, so that the connectors and the governance layer both depend
on it and neither depends on the other for it.

:func:`personal_data` answers the kind of data found as a bare noun ("date of birth", "name",
"phone number" ...) or None; :func:`with_article` phrases it for a sentence ("a name").
"""

from __future__ import annotations

import re
import time
from typing import Optional

# labelled fields: "DOB 01/02/1980", "SSN", "DL #", "Owner: John Smith", "123 Main St", "lives at"
_DOB = re.compile(r"\b(D\.?O\.?B\.?|BORN|BIRTH\s*DATE|DATE\s+OF\s+BIRTH|BIRTHDAY)\b", re.I)
_SSN = re.compile(r"\b(SSN|SOC(IAL)?\s*SEC)\b|\b\d{3}-\d{2}-\d{4}\b", re.I)
_ADDRESS = re.compile(
    r"\b\d{1,6}\s+(?:[A-Z0-9.']+\s+){0,4}?(ST|STREET|AVE|AVENUE|RD|ROAD|BLVD|BOULEVARD|DR|DRIVE|LN|"
    r"LANE|WAY|CT|COURT|PL|PLACE|HWY|HIGHWAY|TER|TERRACE|CIR|CIRCLE|PKWY|PARKWAY)\b\.?"
    r"|\b(ADDRESS|ADDR|RESIDES\s+AT|LIVES\s+AT)\b", re.I)
_NAME = re.compile(r"\b(NAME|OWNER|REGISTERED\s+TO|SUBJECT|SUSPECT|DRIVER)\s*[:=#]", re.I)
_DL = re.compile(r"\b(DL|OLN|DRIVER'?S?\s+LICEN[CS]E)\s*(NO\.?|NUMBER|#|:)", re.I)

# unlabelled: a calendar date far enough back to be a birth date, an age, where someone lives,
# a person named after a role word ("suspect John Smith", "owner Jane Doe"), a relationship
# ("ex-girlfriend's car"), an e-mail address, a phone number
_DATES = re.compile(r"\b(?P<y1>(?:19|20)\d{2})[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])\b"
                    r"|\b(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?P<y2>(?:19|20)\d{2})\b")
MIN_DRIVER_AGE_Y = 14  # a date at least this many years back reads as a date of birth
_AGE = re.compile(r"\b(AGED?|YOA|Y/O|YEARS?\s+OLD)\b", re.I)
_LIVES = re.compile(r"\b(LIVES|LIVING|RESIDES|RESIDING|STAYS)\b", re.I)
_RELATION = re.compile(r"\b(EX[-\s]?)?(GIRL\s?FRIEND|BOY\s?FRIEND|WIFE|HUSBAND|SPOUSE|FIANC[EÉ]E?|NEIGHBOU?R|"
                       r"MOTHER[-\s]IN[-\s]LAW|EX[-\s]WIFE|EX[-\s]HUSBAND)'?S?\b", re.I)
_ROLE_NAME = re.compile(r"\b(?i:SUSPECT|OWNER|DRIVER|SUBJECT|NAMED|MR|MRS|MS|MISS|WANTED|R/?O)\.?\s*[:=#-]?\s*"
                        r"[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+")
# a person named without a role word: "owned by Jane Doe", "John Smith's Honda" (not a make's
# possessive: "Ford Explorer's bumper")
_MAKES = ("ACURA|AUDI|BMW|BUICK|CADILLAC|CHEVROLET|CHEVY|CHRYSLER|DODGE|FIAT|FORD|GMC|HONDA|HYUNDAI|INFINITI|"
          "JEEP|KIA|LEXUS|LINCOLN|MAZDA|MERCEDES|MINI|MITSUBISHI|NISSAN|PORSCHE|RAM|SUBARU|TESLA|TOYOTA|"
          "VOLKSWAGEN|VW|VOLVO")
_BY_NAME = re.compile(r"\b(?i:OWNED|DRIVEN|REGISTERED|RENTED|USED|LEASED|BORROWED)\s+(?i:BY|TO)\s+"
                      r"[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+"
                      r"|\b(?i:BELONGS\s+TO|BELONGING\s+TO)\s+[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+")
_POSSESSIVE = re.compile(rf"\b(?!(?i:{_MAKES})\b)[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+'s\b")
# m/d/yy: a two-digit year read as the nearest past century's (85 -> 1985, 26 -> 2026)
_SHORT_DATE = re.compile(r"\b(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?P<yy>\d{2})\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
_PHONE = re.compile(r"\(?\b\d{3}\)?[-.\s]\d{3}[-.\s]\d{4}\b")

_LABELLED = ((_DOB, "date of birth"), (_SSN, "social security number"), (_DL, "driver licence"),
             (_NAME, "name"), (_ADDRESS, "address"))
_UNLABELLED = ((_AGE, "age"), (_LIVES, "address"), (_ROLE_NAME, "name"), (_BY_NAME, "name"), (_POSSESSIVE, "name"),
               (_RELATION, "personal relationship"),
               (_EMAIL, "e-mail address"), (_PHONE, "phone number"))
_ARTICLE = {"address": "an address", "age": "an age", "e-mail address": "an e-mail address"}


def personal_data(text: Optional[str], now: Optional[float] = None) -> Optional[str]:
    """What kind of personal data ``text`` seems to carry (a bare noun), or None."""
    if not text:
        return None
    for rx, kind in _LABELLED:
        if rx.search(text):
            return kind
    this_year = time.gmtime(time.time() if now is None else now).tm_year
    for m in _DATES.finditer(text):
        if this_year - int(m.group("y1") or m.group("y2")) >= MIN_DRIVER_AGE_Y:
            return "date of birth"
    for m in _SHORT_DATE.finditer(text):
        yy, century = int(m.group("yy")), this_year // 100 * 100
        year = century + yy if century + yy <= this_year else century - 100 + yy
        if this_year - year >= MIN_DRIVER_AGE_Y:
            return "date of birth"
    for rx, kind in _UNLABELLED:
        if rx.search(text):
            return kind
    return None


def with_article(kind: Optional[str]) -> Optional[str]:
    """``"name"`` -> ``"a name"`` for messages; None stays None."""
    if not kind:
        return kind
    return _ARTICLE.get(kind, f"a {kind}")
