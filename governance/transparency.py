"""Public transparency data (461.2.1(g)): the current policy and aggregate statistics.

Only counts and settings are published; nothing identifies a plate, a camera location,
a user or a case.
"""

from __future__ import annotations

import time
from typing import Callable

from alpr.connectors.stores.base import ReadQuery, ReadStore

from .policy_record import ELEMENT_TITLES, PolicyRegistry, packaged_policy_text
from .roles import Role, matrix_markdown
from .store import GovernanceStore

DAY_S = 86_400


def count_reads(reads: ReadStore, agency: str) -> int:
    counter = getattr(reads, "count_reads", None)
    if callable(counter):
        return int(counter(agency=agency))
    return len(reads.search_reads(ReadQuery(agencies=[agency], limit=10_000_000)))


class TransparencyService:
    def __init__(self, store: GovernanceStore, reads: ReadStore, policies: PolicyRegistry,
                 retention_days: Callable[[str], int], home_agency: str, home_agency_name: str,
                 clock: Callable[[], float] = time.time):
        self.store, self.reads, self.policies = store, reads, policies
        self.retention_days, self.home_agency, self.home_agency_name, self.clock = (
            retention_days, home_agency, home_agency_name, clock)

    def stats(self) -> dict:
        agency = self.home_agency
        records = self.store.access_records()
        shares = [r for r in self.store.list_sharing(owner_agency=agency)]
        designees = [u for u in self.store.list_users(agency) if u.role == Role.DESIGNEE.value and u.status == "active"]
        reads = count_reads(self.reads, agency)
        hits = len(self.reads.get_alerts(agency=agency))
        return {
            "agency": self.home_agency_name,
            "reads_stored": reads,
            "hotlist_hits": hits,
            "hit_ratio_percent": round(100.0 * hits / reads, 3) if reads else 0.0,
            "searches": sum(1 for r in records if r.action == "search_reads" and r.outcome == "allowed"
                            and r.agency == agency),
            "searches_refused": sum(1 for r in records if r.action == "search_reads" and r.outcome == "denied"
                                    and r.agency == agency),
            "share_requests": len(shares),
            "shares_approved": sum(1 for s in shares if s.status in ("approved", "fulfilled", "expired")),
            "shares_denied": sum(1 for s in shares if s.status == "denied"),
            "sharing_recipients": sorted({s.requesting_agency_name for s in shares
                                          if s.status in ("approved", "fulfilled", "expired")}),
            "retention_days": self.retention_days(agency),
            "evidence_holds": sum(1 for h in self.store.list_holds() if h.agency == agency),
            "audits_completed": sum(1 for a in self.store.list_audits() if a.status == "signed"),
            "designees": [f"{u.title or 'Designee'} {u.display_name}".strip() for u in designees],
            "generated_ts": self.clock(),
        }

    def policy(self) -> dict:
        cur = self.policies.current()
        return {
            "version": cur.version if cur else "unpublished",
            "effective_ts": cur.effective_ts if cur else None,
            "elements": [{"key": k, "title": t, "text": (cur.elements.get(k, "") if cur else "")}
                         for k, t in ELEMENT_TITLES.items()],
            "text": packaged_policy_text(),
            "roles_matrix": matrix_markdown(),
            "checklist": self.policies.go_live_checklist(),
        }
