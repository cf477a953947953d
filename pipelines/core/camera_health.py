"""Per-camera health as keyed state: the per-camera detail (frames, last capture time, lag, a
camera gone silent) goes to a health topic as records, not to one metric label per camera, so
the metric series stay bounded at 10,000 cameras.

Engines key frames by camera and keep one :class:`HealthState` per camera. :func:`observe`
counts a frame and returns a ``status: ok`` record once ``every_s`` of event time has passed
since the last one. :func:`check_silent` runs on a processing-time timer (``silent_after_s``
after the camera's last frame arrived) and returns one ``status: silent`` record when no frame
came since: the event that matters most, a camera that stopped sending, has no frame to carry it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Optional

SCHEMA = "CameraHealth/1"


@dataclass(frozen=True)
class HealthState:
    camera_id: str
    agency: str
    frames: int  # frames since the last record
    since: float  # event time the current window started
    last_capture_ts: float  # newest capture time seen
    last_arrival: float  # wall time the newest frame arrived
    silent_reported: bool = False


def _record(s: HealthState, status: str, now: float) -> bytes:
    return json.dumps({"schema": SCHEMA, "camera_id": s.camera_id, "agency": s.agency, "status": status,
                       "frames": s.frames, "window_start": s.since, "last_capture_ts": s.last_capture_ts,
                       "lag_s": round(now - s.last_capture_ts, 3), "silent_s": round(now - s.last_arrival, 3),
                       "emitted_ts": now}).encode()


def observe(state: Optional[HealthState], camera_id: str, agency: str, capture_ts: float, now: float,
            every_s: float = 10.0) -> tuple[HealthState, Optional[bytes]]:
    """Count one frame; a ``status: ok`` record when the window of ``every_s`` is full (or the
    camera speaks again after a ``silent`` record)."""
    if state is None:
        state = HealthState(camera_id, agency, 0, capture_ts, capture_ts, now)
    back = state.silent_reported
    s = replace(state, frames=state.frames + 1, last_capture_ts=max(state.last_capture_ts, capture_ts),
                last_arrival=now, silent_reported=False)
    if back or s.last_capture_ts - s.since >= every_s:
        return replace(s, frames=0, since=s.last_capture_ts), _record(s, "ok", now)
    return s, None


def check_silent(state: Optional[HealthState], now: float, silent_after_s: float) -> tuple[Optional[HealthState],
                                                                                            Optional[bytes]]:
    """On the timer: one ``status: silent`` record when no frame arrived for ``silent_after_s``."""
    if state is None or state.silent_reported or now - state.last_arrival < silent_after_s:
        return state, None
    return replace(state, silent_reported=True), _record(state, "silent", now)
