"""A hotlist file import is an access (policy 461.3; Civ. Code 1798.90.52; issue 12 items 1, 5, 7).

``alpr hotlist import`` acts as a logged-in user, like every other governance command:

* an agency import needs ``manage_hotlist``, a purpose code and a case number (adding entries is a
  standing search, as for the API's hotlist adds); its entries belong to the caller's agency,
  whatever the file says (files may not set ``agency``, ``source``, ``shared_with`` or ``entry_id``);
  its case number is the entries' case where a row carries none;
* an agency-less list (a state or NCIC feed, ``--feed``) alerts on every agency's cameras: it is
  platform data, imported only by a ``platform`` account (the role that maintains the recipient
  registry; its one permission is ``manage_agencies``), with a purpose code and a case number too;
* NCIC and CLEW files are state feeds: an agency cannot import them (their source would make
  its entries alert everywhere);
* a replacement or removal touches only the (owner, list) it was made for
  (:func:`alpr.connectors.hotlists.apply_import`);
* every import is logged as ``hotlist_import`` with the list, the counts, the purpose and the case,
  never the plates; refusals are logged by the guard, failures with ``outcome="error"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from alpr.connectors.hotlists import ImportReport, apply_import

from .errors import PermissionDenied, ValidationError
from .guard import Guard
from .models import User
from .purposes import Purpose
from .roles import Action, Role

FEED_FORMATS = ("ncic", "clew")
ACTION = "hotlist_import"


@dataclass(frozen=True)
class ImportScope:
    """What an authorised import may write: ``owner`` is the entries' agency ("" = a state feed)."""

    user: User
    owner: str
    list_code: str
    mode: str
    fmt: str
    purpose: Purpose

    def elements(self, **extra) -> dict:
        return {"list_code": self.list_code, "mode": self.mode, "format": self.fmt,
                "owner": self.owner or "(state feed: every agency)", **extra}


def authorize_import(guard: Guard, user: User, *, list_code: str, fmt: str, mode: str, feed: bool,
                     purpose_code: Optional[str], case_number: Optional[str], channel: str = "cli") -> ImportScope:
    """The scope ``user`` may import into, or PermissionDenied / ValidationError (logged)."""
    elements = {"list_code": (list_code or "")[:64], "format": fmt, "mode": mode, "feed": bool(feed)}
    if feed:
        if user.role != Role.PLATFORM.value:
            exc = PermissionDenied("an agency-less list (--feed: a state or NCIC feed, alerting on every agency's "
                                   "cameras) is platform data: only a platform account imports it")
            guard.deny(user, ACTION, exc, channel, elements, (purpose_code or "").upper(), case_number or "")
            raise exc
        guard.check(user, Action.MANAGE_AGENCIES, channel=channel, data_elements=elements)
        purpose = guard.purpose(user, Action.MANAGE_AGENCIES, purpose_code, case_number, None,
                                channel=channel, data_elements=elements)
        owner = ""
    else:
        purpose = guard.check_with_purpose(user, Action.MANAGE_HOTLIST, purpose_code, case_number,
                                           channel=channel, data_elements=elements)
        if fmt in FEED_FORMATS:
            exc = ValidationError(f"{fmt.upper()} files are state feeds: their entries alert on every agency's "
                                  "cameras, so a platform account imports them (--feed); import the agency's "
                                  "own list as CSV or OpenALPR CSV")
            guard.deny(user, ACTION, exc, channel, elements, purpose.code, purpose.case_number)
            raise exc
        owner = user.agency
    return ImportScope(user, owner, list_code, mode, fmt, purpose)


def record_refusal(guard: Guard, scope: ImportScope, detail: str, channel: str = "cli", **counts) -> None:
    """An authorised import the file or the scope refused (no plates in ``detail``: importer messages
    name lines, columns and counts)."""
    guard.log.record(username=scope.user.username, agency=scope.user.agency, action=ACTION,
                     data_elements=scope.elements(**counts), purpose=scope.purpose, channel=channel,
                     outcome="denied", detail=detail[:500])


def run_import(guard: Guard, scope: ImportScope, store, report: ImportReport, *, channel: str = "cli",
               now: Optional[float] = None) -> int:
    """Apply ``report`` to ``store`` (a hotlist store, or one that also publishes each change) within
    ``scope`` and log it; returns the rows written."""
    user = scope.user
    counts = {"accepted": len(report.entries), "rejected": len(report.rejected), "removals": len(report.removals)}
    try:
        written = apply_import(store, report, scope.list_code, scope.mode, agency=scope.owner)
    except ValueError as exc:  # HotlistFormatError: the file or the scope refused the import
        record_refusal(guard, scope, str(exc), channel, **counts)
        raise
    except Exception as exc:
        guard.log.record(username=user.username, agency=user.agency, action=ACTION,
                         data_elements=scope.elements(**counts), purpose=scope.purpose, channel=channel,
                         outcome="error", detail=f"write failed: {type(exc).__name__}")
        raise
    when = guard.log.clock() if now is None else now
    guard.log.record(username=user.username, agency=user.agency, action=ACTION,
                     data_elements=scope.elements(**counts, written=written), purpose=scope.purpose,
                     channel=channel)
    # after the log record; only notes the number's use (never makes the case "known" to the audit)
    guard.auth.store.register_case(scope.purpose.case_number, user.agency, ACTION, when)
    return written
