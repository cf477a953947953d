"""One alert per (camera or agency, entry, read plate) per time window."""

from __future__ import annotations

from typing import Optional

from alpr.records import Alert

from .normalize import DEFAULT_TABLE, OcrTable


class AlertDeduper:
    """Suppress repeat alerts: the same vehicle/plate group against the same entry gives one
    alert per ``window_s`` seconds. The key is (scope, entry_id, canonical read plate), where
    scope is the camera (or the agency) and the canonical plate folds OCR-equivalent reads
    (A8C123 / ABC123) of one vehicle together. The window starts at the alert that passed;
    suppressed repeats do not extend it. Pure Python and picklable (for a Beam DoFn)."""

    def __init__(self, window_s: float, ocr_table: OcrTable = DEFAULT_TABLE, max_keys: int = 100_000):
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.window_s = float(window_s)
        self.max_keys = max_keys
        self._tr = ocr_table.translation
        self._last: dict[tuple[str, str, str], float] = {}
        self.suppressed = 0

    def key(self, scope: str, entry_id: str, read_plate: str) -> tuple[str, str, str]:
        plate = "".join(ch for ch in read_plate.upper() if ch.isalnum()).translate(self._tr)
        return (scope, entry_id, plate)

    def should_alert(self, scope: str, entry_id: str, read_plate: str, ts: float) -> bool:
        """True for the first alert of this key in the window (and records it)."""
        k = self.key(scope, entry_id, read_plate)
        last = self._last.get(k)
        if last is not None and 0 <= ts - last < self.window_s:
            self.suppressed += 1
            return False
        if last is not None and ts < last:  # out-of-order event older than the recorded one
            self.suppressed += 1
            return False
        self._last[k] = ts
        if len(self._last) > self.max_keys:
            self.evict(ts)
        return True

    def admit(self, alert: Alert, by: str = "camera") -> bool:
        """:meth:`should_alert` for an :class:`Alert` (scope = its camera, or its agency)."""
        scope = alert.camera_id if by == "camera" else alert.agency
        return self.should_alert(scope, alert.entry_id, alert.read_plate, alert.capture_ts)

    def evict(self, now: Optional[float] = None) -> int:
        """Forget keys whose window has passed; returns how many."""
        if now is None:
            now = max(self._last.values(), default=0.0)
        old = [k for k, t in self._last.items() if now - t >= self.window_s]
        for k in old:
            del self._last[k]
        return len(old)

    def __len__(self) -> int:
        return len(self._last)
