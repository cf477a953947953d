"""Alert dedupe as keyed state: at most one alert per hotlist entry per vehicle.

Engines key alerts by :func:`dedupe_key` (receiving agency and entry) and keep one
:class:`DedupeState` per key. An alert passes unless, within ``window_s`` (``alert_dedupe_s``)
of event time, the same entry already alerted for the same plate group (so a later, better
read of the vehicle never raises a second alert) or for the same plate (OCR-equivalent reads
folded: the same car seen again in a new group). Marks older than the window are dropped on
every call, which is the state's TTL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from alpr.hotlist.normalize import DEFAULT_TABLE
from alpr.observability import metrics as obs
from alpr.records import Alert

_FOLD = DEFAULT_TABLE.translation


def dedupe_key(alert: Alert) -> str:
    return f"{alert.agency}|{alert.entry_id}"


def _plate_mark(plate: str) -> str:
    return "p:" + "".join(ch for ch in plate.upper() if ch.isalnum()).translate(_FOLD)


@dataclass
class DedupeState:
    """Marks (``g:<group id>``, ``p:<folded plate>``) -> event time of the alert that set them."""

    marks: dict = field(default_factory=dict)


class DedupeStage:
    def __init__(self, window_s: float):
        if window_s <= 0:
            raise ValueError(f"alert_dedupe_s must be positive, got {window_s}")
        self.window_s = float(window_s)

    def dedupe(self, state: Optional[DedupeState], alert: Alert, now: Optional[float] = None
               ) -> tuple[DedupeState, bool]:
        """``(state, emit)``. ``now`` is event time (default: the alert's capture time)."""
        state = state or DedupeState()
        now = alert.capture_ts if now is None else now
        marks = state.marks
        for k in [k for k, t in marks.items() if abs(now - t) >= self.window_s]:
            del marks[k]
        own = ("g:" + alert.group_id, _plate_mark(alert.read_plate))
        if any(k in marks for k in own):
            obs.observe_alert_deduplicated(alert.list_code)
            return state, False
        for k in own:
            marks[k] = now
        obs.observe_alert(alert.list_code, alert.agency, alert.capture_ts, alert.emitted_ts)
        return state, True

    def expires_at(self, state: DedupeState) -> Optional[float]:
        """Event time after which the state is empty (engines may clear it then)."""
        return max(state.marks.values()) + self.window_s if state.marks else None


def dedupe(state: Optional[DedupeState], alert: Alert, now: float, window_s: float) -> tuple[DedupeState, bool]:
    """Function form of :meth:`DedupeStage.dedupe`."""
    return DedupeStage(window_s).dedupe(state, alert, now)
