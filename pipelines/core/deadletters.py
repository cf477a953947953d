"""Dead letters: anything a stage could not process, with the reason (never silently dropped)."""

from __future__ import annotations

import time
from typing import Optional

from alpr.observability import metrics as obs
from alpr.records import MAX_DEAD_LETTER_PAYLOAD, DeadLetter


def dead_letter(stage: str, reason: str, key: str, payload: bytes = b"", detail: str = "",
                ts: Optional[float] = None) -> DeadLetter:
    obs.observe_dead_letter(stage, reason)
    return DeadLetter(stage=stage, reason=reason, key=key, ts=time.time() if ts is None else ts,
                      payload=bytes(payload[:MAX_DEAD_LETTER_PAYLOAD]), detail=detail)
