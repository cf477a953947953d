"""Sink helpers shared by the engines: row TTLs and batched store writes.

A stored read, group, alert or dead letter lives for the agency's retention (the store's
per-agency setting, else ``retention_days``; never below the 365-day floor) counted from its capture time, not from when it was written: a backfilled
read captured 400 days ago under a 365-day retention is not written at all. TTLs are rounded
up to the minute so that one batch is one or two writes.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Callable, Iterable, Optional, Sequence

from alpr.config import DAY_S, MIN_RETENTION_DAYS
from alpr.observability import metrics as obs

TTL_STEP_S = 60

WRITERS = {"reads": "put_reads", "groups": "put_groups", "alerts": "put_alerts", "dead_letters": "put_dead_letters"}


def capture_ts_of(record) -> float:
    for name in ("capture_ts", "epoch_start", "ts"):
        v = getattr(record, name, None)
        if v is not None:
            return float(v)
    raise TypeError(f"{type(record).__name__} has no capture time")


def ttl_seconds_for(capture_ts: float, retention_days: int, now: Optional[float] = None) -> int:
    """Seconds left until ``capture_ts + retention`` (retention floored at 365 days), rounded
    up to the minute; 0 when the row is already past its retention."""
    now = time.time() if now is None else now
    left = capture_ts + max(int(retention_days), MIN_RETENTION_DAYS) * DAY_S - now
    return 0 if left <= 0 else int(math.ceil(left / TTL_STEP_S) * TTL_STEP_S)


def ttl_buckets(records: Iterable, retention_days: int, now: Optional[float] = None,
                retention_for: Optional[Callable[[str], int]] = None) -> tuple[dict[int, list], list]:
    """``({ttl_s: records}, expired)``; ``retention_for(agency)`` overrides the retention per agency."""
    buckets: dict[int, list] = defaultdict(list)
    expired: list = []
    now = time.time() if now is None else now
    for r in records:
        days = retention_for(getattr(r, "agency", "")) if retention_for else retention_days
        ttl = ttl_seconds_for(capture_ts_of(r), days, now)
        (buckets[ttl] if ttl > 0 else expired).append(r)
    return dict(buckets), expired


def agency_retention(store, default_days: int) -> Callable[[str], int]:
    """``agency -> retention days`` from the store's per-agency setting (``RetentionStore``;
    never below 365), else ``default_days``; looked up once per agency per batch."""
    from alpr.connectors.stores.base import retention_days_for

    cache: dict[str, int] = {}

    def days(agency: str) -> int:
        if agency not in cache:
            cache[agency] = retention_days_for(store, agency, default_days)
        return cache[agency]
    return days


def write_rows(store, table: str, records: Sequence, retention_days: int, store_spec: str = "",
               now: Optional[float] = None, retention_for: Optional[Callable[[str], int]] = None) -> int:
    """Write ``records`` to ``store``'s ``table`` with per-row TTLs from capture time; returns
    how many rows were past their retention and therefore not written."""
    method = getattr(store, WRITERS[table])
    if retention_for is None:
        retention_for = agency_retention(store, retention_days)
    buckets, expired = ttl_buckets(records, retention_days, now, retention_for)
    backend = obs.store_backend(store_spec) if store_spec else "unknown"
    for ttl, rows in sorted(buckets.items()):
        t0 = time.perf_counter()
        try:
            method(rows, ttl)
        except Exception:
            obs.observe_store_write(backend, table, len(rows), time.perf_counter() - t0, ok=False)
            raise
        obs.observe_store_write(backend, table, len(rows), time.perf_counter() - t0)
    return len(expired)
