"""Live reload: hold a current matcher, rebuilt when the store's hotlist version changes."""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from alpr.connectors.stores.base import HotlistStore

from .matcher import HotlistMatcher
from .normalize import DEFAULT_OCR_TABLE


class ReloadingMatcher:
    """``matcher()`` returns the current :class:`HotlistMatcher`. The store's
    ``hotlist_version()`` is checked at most every ``refresh_s`` seconds; a changed version,
    or the passing of the earliest ``expires_at`` among the loaded entries, triggers a
    rebuild. (Expired entries never match in between either: the matcher checks expiry.)"""

    def __init__(self, store: HotlistStore, refresh_s: float = 30.0, clock: Callable[[], float] = time.time,
                 ocr_table=DEFAULT_OCR_TABLE):
        self.store = store
        self.refresh_s = refresh_s
        self.clock = clock
        self.ocr_table = ocr_table
        self._lock = threading.Lock()
        self._matcher: Optional[HotlistMatcher] = None
        self._version = -1
        self._checked = float("-inf")
        self._next_expiry = float("inf")
        self.reloads = 0

    def _load(self, now: float, version: int) -> None:
        entries = self.store.load_entries(now=now)
        self._matcher = HotlistMatcher.build(entries, self.ocr_table)
        self._version = version
        self._next_expiry = min((e.expires_at for e in entries if e.expires_at is not None), default=float("inf"))
        self.reloads += 1

    def matcher(self) -> HotlistMatcher:
        now = self.clock()
        with self._lock:
            if self._matcher is None:
                self._load(now, self.store.hotlist_version())
                self._checked = now
            elif now >= self._next_expiry:
                self._load(now, self.store.hotlist_version())
                self._checked = now
            elif now - self._checked >= self.refresh_s:
                self._checked = now
                version = self.store.hotlist_version()
                if version != self._version:
                    self._load(now, version)
            assert self._matcher is not None
            return self._matcher

    @property
    def version(self) -> int:
        return self._version
