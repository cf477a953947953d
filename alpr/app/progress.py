"""Progress with rate and ETA for long work (the demo, ``alpr run``, hotlist imports, eval, benchmarks).

On a terminal it is a ``rich`` progress bar on stderr (prints from the pipeline appear above it);
on a pipe or in CI it is one plain line per ``every_s`` seconds and a last line at the end, so a
log shows progress without carriage-return noise. ``ALPR_PROGRESS=off`` silences it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Optional, TextIO


def _fmt_s(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 60}:{s % 60:02d}"


class Progress:
    """``with Progress("frames", total=289) as bar: bar.advance()`` (thread-safe)."""

    def __init__(self, what: str, total: Optional[int] = None, unit: str = "", stream: Optional[TextIO] = None,
                 every_s: float = 10.0, enabled: Optional[bool] = None) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.stream = stream or sys.stderr
        self.every_s = every_s
        if enabled is None:
            enabled = os.environ.get("ALPR_PROGRESS", "on").lower() not in ("0", "off", "no", "false")
        self.enabled = enabled
        self.done = 0
        self._lock = threading.Lock()
        self._t0 = self._last = time.monotonic()
        self._rich = None
        self._task = None
        self._printed = -1  # the count of the last plain line printed

    # ------------------------------------------------------------------ state
    @property
    def rate(self) -> float:
        dt = time.monotonic() - self._t0
        return self.done / dt if dt > 0 else 0.0

    def eta_s(self) -> Optional[float]:
        if not self.total or not self.done:
            return None
        return (self.total - self.done) / max(self.rate, 1e-9)

    def line(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        eta = self.eta_s()
        tail = f", ETA {_fmt_s(eta)}" if eta is not None and self.done < (self.total or 0) else ""
        return (f"{self.what}: {count}{unit}{pct}, {self.rate:.1f}{unit}/s, "
                f"elapsed {_fmt_s(time.monotonic() - self._t0)}{tail}")

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> "Progress":
        self._t0 = self._last = time.monotonic()
        if self.enabled and self.stream.isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._rich = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=False)
            self._rich.__enter__()
            self._task = self._rich.add_task(self.what, total=self.total, rate="")
        return self

    def update_to(self, done: int) -> None:
        """Set the count (a monotonic position such as a line number)."""
        if done > self.done:
            self.advance(done - self.done)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if not self.enabled:
                return
            if self._rich is not None:
                self._rich.update(self._task, advance=n, rate=f"{self.rate:.1f}{(' ' + self.unit) if self.unit else ''}/s")
                return
            now = time.monotonic()
            if now - self._last >= self.every_s:
                self._last, self._printed = now, self.done
                print(self.line(), file=self.stream, flush=True)

    def __exit__(self, *exc) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)
            self._rich = None
        elif self.enabled and self.done and self._printed != self.done:
            print(self.line(), file=self.stream, flush=True)


def track(iterable, what: str, total: Optional[int] = None, unit: str = "", **kw):
    """Iterate with a :class:`Progress` (``total`` from ``len()`` when it has one)."""
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    with Progress(what, total=total, unit=unit, **kw) as bar:
        for item in iterable:
            yield item
            bar.advance()
