"""Retry pacing: exponential backoff with full jitter, and a log that speaks once per state change.

A client that cannot reach a service (``alpr alerts tail`` with Kafka down) retries with
:class:`Backoff` delays and reports through :class:`StateLog`: one line when the service becomes
unreachable, one when it is back, nothing per attempt.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Backoff:
    """Delays ``base_s * 2**attempt`` capped at ``cap_s``, drawn uniformly from ``[0, that]``
    ("full jitter"), so many clients do not retry in step."""

    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** self.attempt))
        self.attempt += 1
        return self.rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class StateLog:
    """Log ``message`` only when ``state`` differs from the last one reported."""

    def __init__(self, logger: logging.Logger, initial: Optional[str] = None):
        self.logger, self.state = logger, initial

    def update(self, state: str, message: str, level: int = logging.WARNING) -> bool:
        if state == self.state:
            return False
        self.state = state
        self.logger.log(level, message)
        return True
