"""Hotlist agreements as the engines see them: the ``agreements`` hook of
:class:`~alpr.pipelines.core.matching.MatchStage`, engine-neutral.

An agreement (recorded and approved in the governance layer, :mod:`alpr.governance.agreements`)
lets the entries of ``owner`` (optionally only its lists ``list_codes``) alert on the cameras
of ``partner`` from ``start_ts`` until ``expires_ts``. :class:`AgreementIndex` is an immutable
set of such grants; :class:`ReloadingAgreements` reloads it from a loader (the governance
store, :func:`alpr.governance.agreement_feed.load_grants`) at most every ``refresh_s`` seconds,
like the hotlist reloader. Validity is checked at match time, so an expired agreement stops
extending entries at once, whatever the refresh; a revoked one at the next refresh. If a
reload fails, the last loaded set is kept for at most ``max_stale_s`` and then dropped
(fail closed: an agency's entries fall back to its own cameras).

:class:`TopicAgreements` lays the changes a streaming job reads from the hotlist topic
(:class:`~alpr.records.AgreementChange`) over such a base: an approval adds its grant, a
revocation removes it whatever the base still holds (a TaskManager that cannot read the
governance file stops applying a revoked agreement when the tombstone arrives).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from alpr.records import AgreementChange, HotlistEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgreementGrant:
    owner: str                      # whose entries extend
    partner: str                    # whose cameras they alert on
    start_ts: float
    expires_ts: float
    list_codes: frozenset = frozenset()  # empty: every list of the owner
    agreement_id: str = ""

    def covers(self, entry: HotlistEntry, camera_agency: str, now: float) -> bool:
        return (entry.agency == self.owner and camera_agency == self.partner
                and self.start_ts <= now < self.expires_ts
                and (not self.list_codes or (entry.list_code or "").upper() in self.list_codes))


class AgreementIndex:
    """Immutable grants by (owner, partner). Callable as the plain ``(owner, camera agency)`` hook;
    :meth:`extends` also checks the entry's list and the time."""

    def __init__(self, grants: Iterable[AgreementGrant] = (), clock: Callable[[], float] = time.time):
        self.clock = clock
        self._by_pair: dict[tuple[str, str], tuple[AgreementGrant, ...]] = {}
        for g in grants:
            key = (g.owner, g.partner)
            self._by_pair[key] = self._by_pair.get(key, ()) + (g,)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_pair.values())

    def grants(self) -> list[AgreementGrant]:
        return [g for v in self._by_pair.values() for g in v]

    def extends(self, entry: HotlistEntry, camera_agency: str, now: Optional[float] = None) -> bool:
        grants = self._by_pair.get((entry.agency, camera_agency))
        if not grants:
            return False
        now = self.clock() if now is None else now
        return any(g.covers(entry, camera_agency, now) for g in grants)

    def __call__(self, owner: str, camera_agency: str) -> bool:
        now = self.clock()
        return any(g.start_ts <= now < g.expires_ts and not g.list_codes
                   for g in self._by_pair.get((owner, camera_agency), ()))


class ReloadingAgreements:
    """The current :class:`AgreementIndex`, reloaded from ``loader()`` every ``refresh_s`` seconds."""

    def __init__(self, loader: Callable[[], Iterable[AgreementGrant]], refresh_s: float = 30.0,
                 clock: Callable[[], float] = time.time, max_stale_s: float = 600.0):
        self.loader, self.refresh_s, self.clock, self.max_stale_s = loader, refresh_s, clock, max_stale_s
        self._lock = threading.Lock()
        self._index = AgreementIndex((), clock)
        self._checked = float("-inf")
        self._loaded = float("-inf")
        self.reloads = 0

    def index(self) -> AgreementIndex:
        now = self.clock()
        with self._lock:
            if now - self._checked >= self.refresh_s:
                self._checked = now
                try:
                    self._index = AgreementIndex(list(self.loader()), self.clock)
                    self._loaded = now
                    self.reloads += 1
                except Exception as exc:  # noqa: BLE001 - keep matching; fail closed once stale
                    log.warning("hotlist agreements: reload failed (%s); %s", type(exc).__name__,
                                "keeping the last set" if now - self._loaded < self.max_stale_s else "none apply")
                    if now - self._loaded >= self.max_stale_s:
                        self._index = AgreementIndex((), self.clock)
            return self._index

    def extends(self, entry: HotlistEntry, camera_agency: str, now: Optional[float] = None) -> bool:
        return self.index().extends(entry, camera_agency, now)

    def __call__(self, owner: str, camera_agency: str) -> bool:
        return self.index()(owner, camera_agency)


def grant_of_change(change: AgreementChange) -> AgreementGrant:
    """The grant an ``upsert`` change carries."""
    return AgreementGrant(change.owner, change.partner, float(change.start_ts), float(change.expires_ts),
                          frozenset(c.upper() for c in change.list_codes), change.agreement_id)


class TopicAgreements:
    """A base hook (:class:`ReloadingAgreements` or :class:`AgreementIndex`) with the hotlist
    topic's agreement changes laid over it, by agreement id: the latest change wins."""

    def __init__(self, base, changes: Iterable[AgreementChange] = (), clock: Callable[[], float] = time.time):
        self.base, self.clock = base, clock
        self._changes: dict[str, AgreementChange] = {}
        self._cache: tuple[object, AgreementIndex] | None = None
        for c in changes:
            self.apply(c)

    def apply(self, change: AgreementChange) -> None:
        self._changes[change.agreement_id] = change
        self._cache = None

    def __len__(self) -> int:
        return len(self.index())

    def index(self) -> AgreementIndex:
        base = self.base.index() if hasattr(self.base, "index") else self.base
        if self._cache is None or self._cache[0] is not base:
            grants = {g.agreement_id or f"base-{i}": g for i, g in enumerate(base.grants())}
            for agreement_id, c in self._changes.items():
                if c.op == "upsert":
                    grants[agreement_id] = grant_of_change(c)
                else:
                    grants.pop(agreement_id, None)
            self._cache = (base, AgreementIndex(grants.values(), self.clock))
        return self._cache[1]

    def extends(self, entry: HotlistEntry, camera_agency: str, now: Optional[float] = None) -> bool:
        return self.index().extends(entry, camera_agency, now)

    def __call__(self, owner: str, camera_agency: str) -> bool:
        return self.index()(owner, camera_agency)
