"""Purpose-bound search of stored reads (461.3(a)(b), 461.5(b), Civ. Code 1798.90.52).

Results are limited to the user's agency plus reads that an approved, unexpired sharing
grant lets the user's agency see (and only inside that grant's scope). The recipient's
eligibility is checked again at every search inside a grant (a refusal is logged on both
sides), and the owner's reads a search returns are recorded as a :class:`ShareDelivery`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

from alpr.connectors.stores.base import ReadQuery, ReadStore, plate_pattern_regex
from alpr.records import PlateRead

from .errors import ValidationError
from .guard import Guard
from .models import User
from .purposes import Purpose
from .roles import Action
from .sharing import SharingService, scope_plates

MAX_LIMIT = 5000


@dataclass(frozen=True)
class SearchCriteria:
    plate_pattern: Optional[str] = None   # '*' any run, '?' one character
    camera_id: Optional[str] = None
    start_ts: Optional[float] = None
    end_ts: Optional[float] = None
    limit: int = 500

    def validate(self) -> "SearchCriteria":
        if not (self.plate_pattern or self.camera_id or self.start_ts is not None or self.end_ts is not None):
            raise ValidationError("give a plate pattern, a camera or a time range to search")
        if self.plate_pattern:
            try:
                plate_pattern_regex(self.plate_pattern)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
        if self.start_ts is not None and self.end_ts is not None and self.start_ts > self.end_ts:
            raise ValidationError("start_ts is after end_ts")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}")
        return self

    def elements(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


class SearchService:
    def __init__(self, guard: Guard, reads: ReadStore, sharing: SharingService,
                 clock: Callable[[], float] = time.time, retention_days: Optional[Callable[[str], int]] = None):
        """``sharing`` gives the active grants to an agency, re-checks each at search time and records
        what a search returned of them; ``retention_days(agency)``: reads captured longer ago are
        never returned, purged or not."""
        self.guard, self.reads, self.sharing, self.clock = guard, reads, sharing, clock
        self.retention_days = retention_days

    def search(self, user: User, criteria: SearchCriteria, purpose_code: Optional[str],
               case_number: Optional[str], note: Optional[str] = None, channel: str = "api") -> list[PlateRead]:
        elements = criteria.elements()
        purpose = self.guard.check_with_purpose(user, Action.SEARCH_READS, purpose_code, case_number, note,
                                                channel=channel, data_elements=elements)
        try:
            criteria.validate()
        except ValidationError as exc:
            self.guard.deny(user, Action.SEARCH_READS.value, exc, channel, elements, purpose.code, purpose.case_number)
            raise
        own = self.reads.search_reads(ReadQuery(criteria.plate_pattern, criteria.camera_id, criteria.start_ts,
                                                criteria.end_ts, [user.agency], criteria.limit))
        granted = [(grant, self._search_grant(criteria, grant))
                   for grant in self.sharing.active_grants_for(user.agency, self.clock())
                   if not self.sharing.grant_refused(user, grant, elements, purpose, channel)]
        results = self._visible(own + [r for _, got in granted for r in got], criteria.limit)
        deliveries = self._deliver(user, granted, results, elements, purpose, channel)
        self.guard.log.record(username=user.username, agency=user.agency, action=Action.SEARCH_READS.value,
                              data_elements={**elements, "result_count": len(results),
                                             "shared_from": sorted({d.owner_agency for d in deliveries}),
                                             "deliveries": [d.delivery_id for d in deliveries]},
                              purpose=purpose, channel=channel)
        return results

    def _visible(self, reads: list[PlateRead], limit: int) -> list[PlateRead]:
        """Inside each owner's retention, oldest first, at most ``limit``."""
        if self.retention_days is not None:
            now = self.clock()
            reads = [r for r in reads if r.capture_ts > now - self.retention_days(r.agency) * 86_400]
        reads.sort(key=lambda r: (r.capture_ts, r.read_id))
        return reads[:limit]

    def _deliver(self, user: User, granted: list, results: list[PlateRead], elements: dict, purpose: Purpose,
                 channel: str) -> list:
        """One :class:`ShareDelivery` per grant whose owner's reads are in ``results`` (what left)."""
        left = {(r.agency, r.read_id): r for r in results if r.agency != user.agency}
        out = []
        for grant, got in granted:
            sent = [left.pop((r.agency, r.read_id)) for r in got if (r.agency, r.read_id) in left]
            if sent:
                out.append(self.sharing.deliver_search(user, grant, sent, elements, purpose, channel))
        return out

    def _search_grant(self, c: SearchCriteria, grant) -> list[PlateRead]:
        s = grant.scope
        if s.camera_id and c.camera_id and s.camera_id != c.camera_id:
            return []
        start = max([t for t in (c.start_ts, s.start_ts) if t is not None], default=None)
        end = min([t for t in (c.end_ts, s.end_ts) if t is not None], default=None)
        if start is not None and end is not None and start > end:
            return []
        got = self.reads.search_reads(ReadQuery(c.plate_pattern, c.camera_id or s.camera_id, start, end,
                                                [grant.owner_agency], c.limit))
        plates = set(scope_plates(s))
        return [r for r in got if r.plate in plates]
