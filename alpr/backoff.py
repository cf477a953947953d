"""Retry pacing: exponential backoff with jitter, and a log that speaks once per state change.

A client that cannot reach a service (``alpr alerts tail`` with Kafka down, a Cassandra write, a
Triton request) retries with :class:`Backoff` delays and reports through :class:`StateLog`: one
line when the service becomes unreachable, one when it is back, nothing per attempt.
:class:`RetryPacer` puts the two together for a retry loop that keeps its own budget (a number
of attempts, or seconds): it sleeps the next delay and reports the state changes.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class Backoff:
    """Delays growing as ``base_s * 2**attempt``, capped at ``cap_s``. ``jitter`` is the part of
    that ceiling drawn at random: 1.0 ("full jitter", the default) draws from ``[0, ceiling]``;
    0.5 ("equal jitter") from ``[ceiling/2, ceiling]``, which keeps at least half of a fixed
    schedule's total wait. Either way many clients do not retry in step."""

    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def ceiling(self) -> float:
        """The longest delay the next attempt may get."""
        return min(self.cap_s, self.base_s * (2 ** self.attempt))

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self.attempt += 1
        return ceiling * (1.0 - self.jitter) + self.rng.uniform(0.0, ceiling * self.jitter)

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


class RetryPacer:
    """Pacing and reporting for one client's retry loops (the loop keeps its own budget).

    ``backoff()`` starts a schedule for one call; ``failed(schedule, what, exc)`` reports the
    change to failing (one WARNING, however many attempts and calls follow) and sleeps the next
    jittered delay; ``succeeded(what)`` reports the change back (one INFO with the number of
    retries and the time since it started failing). ``sleep``, ``clock`` and ``rng`` can be
    replaced (tests)."""

    OK, FAILING = "ok", "failing"

    def __init__(self, name: str, logger: logging.Logger, base_s: float = 0.2, cap_s: float = 5.0,
                 jitter: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, rng: Optional[random.Random] = None):
        Backoff(base_s, cap_s, jitter=jitter)  # validates jitter
        self.name, self.base_s, self.cap_s, self.jitter = name, base_s, cap_s, jitter
        self.sleep, self.clock = sleep, clock
        self.rng = rng or random.Random()
        self.states = StateLog(logger, initial=self.OK)
        self.retries = 0
        self._since = 0.0

    def backoff(self) -> Backoff:
        return Backoff(self.base_s, self.cap_s, rng=self.rng, jitter=self.jitter)

    @property
    def failing(self) -> bool:
        return self.states.state == self.FAILING

    def failed(self, schedule: Backoff, what: str, exc: object) -> float:
        """Report (on the change to failing only), then sleep the next delay; returns it."""
        if self.states.update(self.FAILING, f"{self.name}: {what} failed ({exc}); retrying with backoff "
                                            f"(reported again when it works)"):
            self.retries, self._since = 0, self.clock()
        self.retries += 1
        delay = schedule.next_delay()
        self.sleep(delay)
        return delay

    def succeeded(self, what: str) -> None:
        """Report the change back to working (once)."""
        if self.failing:
            self.states.update(self.OK, f"{self.name}: {what} works again after {self.retries} "
                                        f"retr{'y' if self.retries == 1 else 'ies'} "
                                        f"({self.clock() - self._since:.1f}s)", logging.INFO)
