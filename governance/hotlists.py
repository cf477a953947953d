"""Agency hotlist entries (461.3(c); audit findings F2, F7).

Partial plates from major crimes may be entered with ``*``/``?`` wildcards. Every entry
needs a purpose code and a case number (an entry is a standing search: it is logged as one) and
an expiry (at most ``hotlist_entry_max_days`` ahead); entries derived from CLETS are flagged
``clets_derived`` - only a flag: an entry added by an agency always keeps ``source="agency"`` and
its owning agency, so it alerts on that agency's cameras only (``pipelines/core/matching``). Personal data in any free text (names, dates of birth, addresses:
:func:`alpr.governance.pii.personal_data`) is refused. When an entry is added, the agency's
OWN stored reads of the look-back period are matched retroactively (:func:`retro_alerts_search`),
a search in its own right: logged as ``hotlist_lookback`` with the same purpose.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Optional

from alpr.connectors.stores.base import HotlistStore, ReadStore
from alpr.records import Alert, HotlistEntry, stable_id

from .errors import StoreFailure, ValidationError
from .guard import Guard
from .models import User
from .pii import personal_data
from .roles import PLATFORM_AGENCY, Action

log = logging.getLogger(__name__)
DAY_S = 86_400
_PLATE_RE = re.compile(r"^[A-Z0-9*?]{2,10}$")
MAX_PRIORITY = 100
MAX_DESCRIPTION = 200


def retro_alerts_search(lookback_s: float, clock: Callable[[], float] = time.time) -> Callable[..., list[Alert]]:
    """``retro_search(entry, read_store)`` over the last ``lookback_s`` seconds of stored reads
    (Vigilant's "generate historical hits", Genetec's past-read matching), as Alerts."""
    from alpr.hotlist.retro import retro_search

    def search(entry: HotlistEntry, reads: ReadStore) -> list[Alert]:
        now = clock()
        alerts = []
        scope = [entry.agency]  # the look-back searches the entry's own agency's reads only
        for read, hit in retro_search(reads, entry, lookback_s, now, agencies=scope):
            alerts.append(Alert(
                alert_id=stable_id("retro-alert", read.read_id, entry.entry_id), group_id=f"retro:{read.read_id}",
                camera_id=read.camera_id, agency=read.agency, capture_ts=read.capture_ts,
                read_plate=hit.read_plate, entry_plate=entry.plate, entry_id=entry.entry_id,
                list_code=entry.list_code, list_name=entry.list_name, match_type=hit.match_type,
                distance=hit.distance, priority=entry.priority, covert=entry.covert,
                description=f"historical hit: {entry.description}".strip(), case_number=entry.case_number,
                entry_source=entry.source, entry_agency=entry.agency, aligned=hit.aligned,
                confidence=read.confidence, emitted_ts=now))
        return alerts

    return search


def find_retro_search() -> Optional[Callable[..., Any]]:
    """The default retroactive search (30-day look-back) when none is injected."""
    return retro_alerts_search(30 * DAY_S)


class HotlistService:
    def __init__(self, guard: Guard, hotlists: HotlistStore, reads: ReadStore,
                 max_days: int = 30, clock: Callable[[], float] = time.time,
                 retro_search: Optional[Callable[..., Any]] = None, alert_ttl_s: int = 365 * DAY_S):
        self.alert_ttl_s = alert_ttl_s
        self.guard, self.hotlists, self.reads, self.max_days, self.clock = guard, hotlists, reads, max_days, clock
        self.retro_search = retro_search if retro_search is not None else find_retro_search()

    def add_entry(self, user: User, *, plate: str, list_code: str, case_number: str,
                  expires_at: Optional[float], purpose_code: Optional[str] = None, description: str = "",
                  state: str = "", priority: int = 50, covert: bool = False, clets_derived: bool = False,
                  list_name: str = "", channel: str = "api") -> tuple[HotlistEntry, int]:
        """Add an agency entry; returns (entry, number of historical hits raised by the look-back)."""
        norm = re.sub(r"[\s\-]", "", (plate or "").upper())[:64]
        elements = {"plate": norm, "list_code": (list_code or "")[:64], "case_number": (case_number or "")[:64]}
        purpose = self.guard.check_with_purpose(user, Action.MANAGE_HOTLIST, purpose_code, case_number, None,
                                                channel=channel, data_elements=elements)
        now = self.clock()
        try:
            if not _PLATE_RE.match(norm) or len(norm.replace("*", "").replace("?", "")) < 2:
                raise ValidationError(f"plate {plate!r}: 2-10 letters/digits, '*' or '?', at least 2 known characters")
            if not list_code or not re.match(r"^[A-Za-z0-9_\-]{1,32}$", list_code):
                raise ValidationError("list_code is required (letters, digits, '_' or '-')")
            if expires_at is None:
                raise ValidationError("an expiry date is mandatory for agency hotlist entries")
            if not isinstance(expires_at, (int, float)) or expires_at != expires_at or expires_at <= now:
                raise ValidationError("expiry must be in the future")
            if expires_at > now + self.max_days * DAY_S:
                raise ValidationError(f"expiry may be at most {self.max_days} days ahead; "
                                      "extensions need a commander's approval")
            if not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
                raise ValidationError(f"priority must be an integer from 0 to {MAX_PRIORITY}")
            if len(description or "") > MAX_DESCRIPTION or len(list_name or "") > 64 or len(state or "") > 2:
                raise ValidationError(f"description: at most {MAX_DESCRIPTION} characters; state: 2 letters")
            for field_name, text in (("description", description), ("list name", list_name)):
                kind = personal_data(text)
                if kind:
                    raise ValidationError(f"{field_name} seems to contain {kind}; hotlist entries may not hold "
                                          "personal data (State Auditor 2019-118 rec. 2)")
        except ValidationError as exc:
            self.guard.deny(user, "hotlist_add", exc, channel, elements, purpose.code, purpose.case_number)
            raise
        case_number = purpose.case_number
        entry = HotlistEntry(
            entry_id=stable_id(user.agency, norm, case_number, list_code), plate=norm, list_code=list_code,
            state=state.upper(), list_name=list_name or list_code, priority=int(priority),
            description=description.strip(), case_number=case_number, expires_at=float(expires_at),
            covert=bool(covert), source="agency",  # never "clets": a source must not make an entry global
            match_strategy="lenient", agency=user.agency, clets_derived=bool(clets_derived), created_ts=now)
        try:
            self.hotlists.upsert_entries([entry])
        except Exception as exc:  # logged even when the store fails; the caller gets a clean 409
            self.guard.log.record(username=user.username, agency=user.agency, action="hotlist_add",
                                  data_elements={**elements, "entry_id": entry.entry_id}, purpose=purpose,
                                  channel=channel, outcome="error", detail=f"store failed: {type(exc).__name__}")
            raise StoreFailure("the hotlist entry could not be saved (the hotlist store failed); "
                               "check the entry list and try again") from exc
        self.guard.log.record(username=user.username, agency=user.agency, action="hotlist_add",
                              data_elements={**elements, "entry_id": entry.entry_id, "expires_at": entry.expires_at,
                                             "clets_derived": entry.clets_derived},
                              purpose=purpose, channel=channel)
        self._note_case(case_number, user.agency, now)  # after the log record: it can fail nothing logged
        try:
            hits = self._retro(entry)
        except Exception as exc:
            self.guard.log.record(username=user.username, agency=user.agency, action="hotlist_lookback",
                                  data_elements={"plate": norm, "entry_id": entry.entry_id}, purpose=purpose,
                                  channel=channel, outcome="error", detail=f"look-back failed: {type(exc).__name__}")
            raise StoreFailure(f"entry {entry.entry_id} was added (and logged), but the look-back over past "
                               "reads failed; no historical hits were raised") from exc
        self.guard.log.record(username=user.username, agency=user.agency, action="hotlist_lookback",
                              data_elements={"plate_pattern": norm, "entry_id": entry.entry_id,
                                             "agencies": [user.agency], "result_count": hits},
                              purpose=purpose, channel=channel)
        return entry, hits

    def _note_case(self, case_number: str, agency: str, now: float) -> None:
        """Record that the agency used this case number. Bookkeeping only: it never makes the case
        "known" to the audit (only RMS / imported case lists do) and its failure fails nothing."""
        try:
            self.guard.auth.store.register_case(case_number, agency, "hotlist", now)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not note the case number of a hotlist entry: %s", type(exc).__name__)

    def _retro(self, entry: HotlistEntry) -> int:
        """Integration point: ``retro_search(entry, read_store)`` returns the historical-hit
        :class:`~alpr.records.Alert` s (stored here) or a count (if it stored them itself)."""
        if self.retro_search is None:
            return 0
        result = self.retro_search(entry, self.reads)
        if result is None:
            return 0
        if isinstance(result, int):
            return result
        alerts = list(result)
        if alerts:
            self.reads.put_alerts(alerts, ttl_s=self.alert_ttl_s)
        return len(alerts)

    def list_entries(self, user: User, channel: str = "api") -> list[HotlistEntry]:
        self.guard.check(user, Action.VIEW_HOTLIST, channel=channel, data_elements={"hotlist_of": user.agency})
        out = [e for e in self.hotlists.load_entries(self.clock()) if e.agency == user.agency]
        self.guard.log.record(username=user.username, agency=user.agency, action="hotlist_list",
                              data_elements={"hotlist_of": user.agency, "result_count": len(out)},
                              purpose_code="HOTLIST-ENTRY", channel=channel)
        return out

    def remove_entry(self, user: User, entry_id: str, channel: str = "api") -> None:
        self.guard.check(user, Action.MANAGE_HOTLIST, channel=channel, data_elements={"entry_id": entry_id})
        found = next((e for e in self.hotlists.load_entries(0.0) if e.entry_id == entry_id), None)
        mine = [self.guard.owned(user, "hotlist_remove", found, found.agency if found else None,
                                 f"hotlist entry {entry_id!r}", channel=channel, data_elements={"entry_id": entry_id})]
        self.hotlists.remove_entries([entry_id])
        self.guard.log.record(username=user.username, agency=user.agency, action="hotlist_remove",
                              data_elements={"entry_id": entry_id, "plate": mine[0].plate},
                              purpose_code="HOTLIST-ENTRY", case_number=mine[0].case_number, channel=channel)

    def expire_entries(self, now: Optional[float] = None) -> int:
        """Remove the entries past their expiry (maintenance). Through a publishing store each
        removal is a tombstone on the hotlist topic, so a running job drops them from its
        broadcast state instead of keeping them for ever; logged for each owning agency."""
        now = self.clock() if now is None else now
        gone = self.hotlists.expired_entries(now)
        if not gone:
            return 0
        self.hotlists.remove_entries([e.entry_id for e in gone])
        for e in gone:
            self.guard.log.record(username="system", agency=e.agency or PLATFORM_AGENCY, action="hotlist_expire",
                                  data_elements={"entry_id": e.entry_id, "list_code": e.list_code,
                                                 "expires_at": e.expires_at},
                                  purpose_code="ADMIN", case_number=e.case_number, channel="system")
        return len(gone)
