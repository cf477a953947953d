"""``make install``'s pip run, with a progress counter instead of two silent minutes.

Runs ``python -m pip install ARGS`` in this interpreter (the project's virtualenv) and turns pip's
own lines into a counter of packages collected (rate; the total is unknown until pip has resolved
everything) and then a spinner while pip installs them, with the elapsed time. pip's full output
goes to ``LOG`` (default ``.venv/pip-install.log``); when pip fails its last 40 lines are printed
and pip's exit status is returned. Uses only the standard library and pip's vendored ``rich``
(the project's own dependencies are not installed yet when this runs).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import deque

COLLECT = re.compile(r"^\s*(Collecting|Obtaining|Requirement already satisfied:)\s+(\S+)")
INSTALLING = re.compile(r"^\s*Installing collected packages: (.*)$")
DONE = re.compile(r"^\s*Successfully installed (.*)$")


def _fmt(s: float) -> str:
    return f"{int(s) // 60}:{int(s) % 60:02d}"


class _Plain:
    """One line per phase change and every 15 s: for logs and CI."""

    def __init__(self) -> None:
        self.last = 0.0

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= 15:
            self.last = now
            print(f"install: {text}", flush=True)

    def close(self) -> None:
        pass


class _Live:
    def __init__(self) -> None:
        from pip._vendor.rich.console import Console
        from pip._vendor.rich.live import Live
        from pip._vendor.rich.spinner import Spinner

        self._spinner = Spinner("dots", text="install: starting pip")
        self._live = Live(self._spinner, console=Console(), refresh_per_second=8, transient=False)
        self._live.__enter__()

    def show(self, text: str, force: bool = False) -> None:
        self._spinner.update(text=f"install: {text}")

    def close(self) -> None:
        self._live.__exit__(None, None, None)


def main(argv: list[str]) -> int:
    log_path = os.environ.get("PIP_PROGRESS_LOG", os.path.join(os.path.dirname(sys.executable), "..",
                                                               "pip-install.log"))
    view = _Live() if sys.stdout.isatty() else _Plain()
    t0 = time.monotonic()
    collected: list[str] = []
    tail: deque[str] = deque(maxlen=40)
    phase = "resolving and downloading"
    installing = 0
    cmd = [sys.executable, "-m", "pip", "install", "--progress-bar", "off", *argv]
    stop = threading.Event()

    def tick() -> None:  # pip is silent while it installs: keep the elapsed time moving
        while not stop.wait(15 if isinstance(view, _Plain) else 0.5):
            if installing:
                view.show(f"{phase}, elapsed {_fmt(time.monotonic() - t0)}")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            tail.append(line.rstrip("\n"))
            m = COLLECT.match(line)
            if m:
                collected.append(m.group(2))
            m2 = INSTALLING.match(line)
            if m2:
                installing = len(m2.group(1).split(", "))
                phase = f"installing {installing} packages"
                view.show(f"{phase} (collected {len(collected)} in {_fmt(time.monotonic() - t0)})", force=True)
                continue
            elapsed = time.monotonic() - t0
            rate = len(collected) / elapsed if elapsed > 0 else 0.0
            if not collected and not installing:
                continue
            if installing:
                view.show(f"{phase}, elapsed {_fmt(elapsed)}")
            else:
                view.show(f"{phase}: {len(collected)} packages ({rate:.1f}/s), elapsed {_fmt(elapsed)}"
                          + (f", last {collected[-1]}" if collected else ""))
        status = proc.wait()
    stop.set()
    ticker.join()
    view.close()
    elapsed = _fmt(time.monotonic() - t0)
    if status:
        print(f"install: pip failed (exit {status}) after {elapsed}; last lines of {os.path.normpath(log_path)}:",
              file=sys.stderr)
        for line in tail:
            print(f"  {line}", file=sys.stderr)
        return status
    print(f"install: done in {elapsed}: {installing} packages installed, {len(collected)} requirements checked "
          f"(pip's log: {os.path.normpath(log_path)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
