"""The storage port: one interface served by the embedded SQLite store and by Cassandra.

Reads, plate groups, alerts and dead letters are time-series rows that expire
(``expires_at``, epoch seconds). Hotlist entries never expire by TTL: an entry's own
``expires_at`` is a column, and the store keeps a monotonically increasing hotlist
version so long-running matchers can reload when it changes.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol, Sequence, runtime_checkable

from alpr.records import Alert, DeadLetter, HotlistEntry, PlateGroup, PlateRead

from alpr.config import DAY_S, MIN_RETENTION_DAYS  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class ReadQuery:
    """A search of stored reads. ``plate_pattern`` uses search wildcards:
    ``*`` = any run of characters (also none), ``?`` = exactly one character."""

    plate_pattern: Optional[str] = None
    camera_id: Optional[str] = None
    start_ts: Optional[float] = None
    end_ts: Optional[float] = None
    agencies: Optional[Sequence[str]] = None  # None = no agency restriction (internal use only)
    limit: int = 1000


def plate_pattern_regex(pattern: str) -> re.Pattern:
    """Compile a search pattern (``*`` any run, ``?`` one char) into an anchored regex."""
    norm = re.sub(r"[^A-Z0-9*?]", "", pattern.upper())
    if not norm:
        raise ValueError(f"empty plate pattern {pattern!r}")
    return re.compile(fnmatch.translate(norm))


def pattern_is_exact(pattern: str) -> bool:
    return "*" not in pattern and "?" not in pattern


def check_replacement(list_code: str, agency: str, entries: Iterable[HotlistEntry]) -> list[HotlistEntry]:
    """``entries`` as a list if every one is of list ``list_code`` and owned by ``agency``
    (the scope of a ``replace_list``); :class:`ValueError` otherwise."""
    entries = list(entries)
    stray = sum(1 for e in entries if e.list_code != list_code or (e.agency or "") != (agency or ""))
    if stray:
        raise ValueError(f"replace_list({list_code!r}, agency={agency!r}): {stray} entries of another "
                         "list or agency")
    return entries


# --------------------------------------------------------------------------- retention
def retention_ttl_s(capture_ts: float, retention_days: int, now: Optional[float] = None) -> int:
    """Seconds a row captured at ``capture_ts`` has left under ``retention_days`` (never below the
    365-day floor), counted from the CAPTURE time; 0 when it is already past its retention."""
    import time as _time
    now = _time.time() if now is None else now
    left = capture_ts + max(int(retention_days), MIN_RETENTION_DAYS) * DAY_S - now
    return 0 if left <= 0 else int(math.ceil(left))


@runtime_checkable
class RetentionStore(Protocol):
    """Per-agency retention kept with the rows themselves, so every writer (the pipeline, the
    governance layer) and the purge apply the same period. Implemented by both stores."""

    def agency_retention_days(self, agency: str) -> Optional[int]: ...

    def set_agency_retention(self, agency: str, days: int, now: Optional[float] = None) -> int:
        """Record the period and re-expire the agency's stored rows from their capture time;
        returns the number of rows whose expiry changed."""
        ...

    def purge_past_retention(self, now: Optional[float] = None, default_days: int = MIN_RETENTION_DAYS) -> int:
        """Delete reads, groups and alerts whose capture time is past their agency's retention
        (whatever TTL they were written with)."""
        ...


def retention_days_for(store, agency: str, default_days: int = MIN_RETENTION_DAYS) -> int:
    """The agency's retention from ``store`` (a :class:`RetentionStore`), else ``default_days``; >= 365."""
    # a record without an agency (a dead letter of an unreadable frame) takes the default: an
    # empty agency is no key to look up (Cassandra refuses an empty partition key)
    days = store.agency_retention_days(agency) if agency and isinstance(store, RetentionStore) else None
    return max(int(days if days is not None else default_days), MIN_RETENTION_DAYS)


def ttl_seconds_for(agency: str, capture_ts: float, now: Optional[float] = None, store=None,
                    default_days: int = MIN_RETENTION_DAYS) -> int:
    """The TTL (seconds) a writer must give a row of ``agency`` captured at ``capture_ts``: the
    agency's retention in ``store`` (>= 365 days) counted from the capture time; 0 = do not write."""
    return retention_ttl_s(capture_ts, retention_days_for(store, agency, default_days), now)


@runtime_checkable
class ReadStore(Protocol):
    """Port for reads, groups, alerts and dead letters."""

    def put_reads(self, reads: Iterable[PlateRead], ttl_s: int) -> int: ...

    def put_groups(self, groups: Iterable[PlateGroup], ttl_s: int) -> int: ...

    def put_alerts(self, alerts: Iterable[Alert], ttl_s: int) -> int: ...

    def put_dead_letters(self, letters: Iterable[DeadLetter], ttl_s: int) -> int: ...

    def search_reads(self, query: ReadQuery) -> list[PlateRead]: ...

    def get_groups(self, camera_id: Optional[str] = None, start_ts: Optional[float] = None,
                   end_ts: Optional[float] = None) -> list[PlateGroup]: ...

    def get_alerts(self, agency: Optional[str] = None) -> list[Alert]: ...

    def get_dead_letters(self) -> list[DeadLetter]: ...

    def read_expiry(self, read_id: str) -> Optional[float]: ...

    def purge_expired(self, now: Optional[float] = None) -> int: ...

    def close(self) -> None: ...


@runtime_checkable
class HotlistStore(Protocol):
    """Port for hotlist entries with a version counter for live reload."""

    def upsert_entries(self, entries: Iterable[HotlistEntry]) -> int: ...

    def remove_entries(self, entry_ids: Iterable[str]) -> int: ...

    def replace_list(self, list_code: str, entries: Iterable[HotlistEntry], agency: str = "") -> int:
        """Replace the entries of list ``list_code`` OWNED BY ``agency`` ("" = the agency-less state
        feeds) with ``entries``; another agency's entries of the same list code are never touched.
        Entries of another agency or list are refused (:class:`ValueError`)."""
        ...

    def load_entries(self, now: Optional[float] = None) -> list[HotlistEntry]: ...

    def expired_entries(self, now: Optional[float] = None) -> list[HotlistEntry]:
        """Entries whose ``expires_at`` has passed (maintenance removes them, so that a live
        hotlist topic gets their tombstones)."""
        ...

    def hotlist_version(self) -> int: ...
