"""Progress for the set-up steps whose own output is a stream of lines: pip and Maven.

    python infra/stream_progress.py [--label TEXT] [--log PATH] [--stamp NAME] [--tail N] pip PYTHON ARGS...
    python infra/stream_progress.py [--label TEXT] [--log PATH] [--stamp NAME] [--tail N] mvn MVN ARGS...

``pip`` runs ``PYTHON -m pip ARGS`` (``--progress-bar raw`` where that pip has it, else ``off``);
``mvn`` runs ``MVN ARGS`` as given (Maven's ``-q``/``-ntp`` hide the lines counted here). stdout and
stderr go, merged, to LOG; the lines this module knows become a counter: pip's ``Collecting`` and
``Downloading NAME (SIZE)`` (with bytes, rate and ETA of a large file where ``raw`` is available),
then ``Installing collected packages``; Maven's ``Downloaded from`` (artifacts and megabytes) and
``Copying`` (jars). On a terminal the counter is one updating line; on a pipe it is one line every
``ALPR_PROGRESS_EVERY`` seconds (default 15), so a short step prints its summary only. The summary
names the totals and the log. When the command fails, the last ``--tail`` lines of the log are
printed instead and its exit status is returned. ``ALPR_PROGRESS=off`` leaves the summary only.

Used by ``make install`` (through ``infra/pip_progress.py``) and ``infra/services.sh fetch``. Only
the standard library (``make install`` runs it before any dependency is installed) and, for the
updating line on a terminal, pip's vendored ``rich``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Callable, Optional, TextIO

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SIZE = re.compile(r"([\d.]+)\s*(B|kB|KB|MB|GB)\b")
UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def fmt_s(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 60}:{s % 60:02d}"


def fmt_mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _size(text: Optional[str]) -> float:
    m = SIZE.search(text or "")
    return float(m.group(1)) * UNITS[m.group(2)] if m else 0.0


def _short(filename: str) -> str:
    """numpy-1.26.4-cp311-...-x86_64.whl -> numpy-1.26.4; apache-flink-2.2.0.tar.gz -> apache-flink-2.2.0"""
    name = filename.rsplit("/", 1)[-1]
    if name.endswith(".whl"):
        return "-".join(name.split("-")[:2])
    return re.sub(r"\.(tar\.gz|zip|tar\.bz2)$", "", name)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class PipCounter:
    """pip's lines -> packages collected, megabytes announced, the download under way, installing."""

    COLLECT = re.compile(r"^\s*(Collecting|Obtaining|Requirement already satisfied:)\s+(\S+)")
    DOWNLOAD = re.compile(r"^\s*Downloading (\S+)(?:\s+\((.*)\))?")
    RAW = re.compile(r"^Progress (\d+) of (\d+)$")
    INSTALLING = re.compile(r"^\s*Installing collected packages: (.*)$")
    DONE = re.compile(r"^\s*Successfully installed (.*)$")

    def __init__(self) -> None:
        self.collected: list[str] = []
        self.downloads = 0
        self.bytes = 0.0
        self.installing = 0
        self.installed = 0
        self.file: Optional[list] = None  # [name, done, total, t0] of a download with raw progress

    def feed(self, line: str, now: float) -> bool:
        """Count one line; False for lines kept out of the log (raw progress)."""
        if m := self.RAW.match(line):
            done, total = int(m.group(1)), int(m.group(2))
            if self.file is not None:
                self.file[1:3] = [done, total]
            return False
        if m := self.COLLECT.match(line):
            self.collected.append(m.group(2))
            self.file = None
        elif m := self.DOWNLOAD.match(line):
            self.downloads += 1
            self.bytes += _size(m.group(2))
            self.file = [_short(m.group(1)), 0, 0, now]
        elif m := self.INSTALLING.match(line):
            self.installing = len(m.group(1).split(", "))
            self.file = None
        elif m := self.DONE.match(line):
            self.installed = len(m.group(1).split())
        return True

    def status(self, elapsed: float, now: float) -> Optional[str]:
        if self.installing:
            return f"installing {_plural(self.installing, 'package')}"
        if not self.collected:
            return None
        text = f"{_plural(len(self.collected), 'package')} collected, {len(self.collected) / max(elapsed, 1e-9):.1f}/s"
        if self.bytes:
            text += f", downloads {fmt_mb(self.bytes)}"
        if self.file and self.file[2] >= 1e6 and self.file[1] < self.file[2]:
            name, done, total, t0 = self.file
            text += f"; downloading {name}: {done / 1e6:.1f}/{fmt_mb(total)} ({100 * done / total:.0f}%)"
            if done:
                rate = done / max(now - t0, 1e-9)
                text += f" at {rate / 1e6:.1f} MB/s, ETA {fmt_s((total - done) / rate)}"
        else:
            text += f", last {self.collected[-1]}"
        return text

    def summary(self) -> str:
        checked = _plural(len(self.collected), "requirement")
        dl = f", {fmt_mb(self.bytes)} downloaded" if self.bytes else ""
        if self.installed or self.installing:
            return f"{_plural(self.installed or self.installing, 'package')} installed, {checked} checked{dl}"
        return f"nothing to install, {checked} already satisfied"


class MavenCounter:
    """Maven's lines -> artifacts downloaded (count, megabytes) and jars copied."""

    DOWNLOADED = re.compile(r"^(?:\[INFO\]\s+)?Downloaded from [^:]+: (\S+)(?:\s+\((.*)\))?")
    COPYING = re.compile(r"^(?:\[INFO\]\s+)?Copying (\S+) to ")

    def __init__(self) -> None:
        self.downloaded = 0
        self.bytes = 0.0
        self.copied = 0
        self.last = ""

    def feed(self, line: str, now: float) -> bool:
        if m := self.DOWNLOADED.match(line):
            self.downloaded += 1
            self.bytes += _size(m.group(2))
            self.last = m.group(1).rsplit("/", 1)[-1]
        elif m := self.COPYING.match(line):
            self.copied += 1
            self.last = m.group(1)
        return True

    def status(self, elapsed: float, now: float) -> Optional[str]:
        if not (self.downloaded or self.copied):
            return None
        text = (f"{_plural(self.downloaded, 'artifact')} downloaded ({fmt_mb(self.bytes)}), "
                f"{self.downloaded / max(elapsed, 1e-9):.1f}/s")
        if self.copied:
            text += f", {_plural(self.copied, 'jar')} copied"
        return text + (f", last {self.last}" if self.last else "")

    def summary(self) -> str:
        dl = (f"{_plural(self.downloaded, 'artifact')} downloaded ({fmt_mb(self.bytes)})" if self.downloaded
              else "nothing downloaded (all in the local Maven repository)")
        return f"{dl}, {_plural(self.copied, 'jar')} copied"


class PlainView:
    """At most one line per ``every`` seconds: for logs and CI."""

    def __init__(self, stream: TextIO, every: float, clock: Callable[[], float]) -> None:
        self.stream, self.every, self.clock = stream, every, clock
        self.last = clock()

    def show(self, text: str) -> None:
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class LiveView:
    """One updating line on a terminal (pip's vendored rich), gone when the summary is printed."""

    def __init__(self, stream: TextIO) -> None:
        from pip._vendor.rich.console import Console
        from pip._vendor.rich.live import Live
        from pip._vendor.rich.spinner import Spinner

        self._spinner = Spinner("dots", text="starting")
        self._live = Live(self._spinner, console=Console(file=stream), refresh_per_second=8, transient=True)
        self._live.__enter__()

    def show(self, text: str) -> None:
        self._spinner.update(text=text)

    def close(self) -> None:
        self._live.__exit__(None, None, None)


class SilentView:
    def show(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def make_view(stream: TextIO, clock: Callable[[], float] = time.monotonic):
    if os.environ.get("ALPR_PROGRESS", "on").lower() in ("0", "off", "no", "false"):
        return SilentView()
    if stream.isatty():
        try:
            return LiveView(stream)
        except ImportError:
            pass
    return PlainView(stream, float(os.environ.get("ALPR_PROGRESS_EVERY", "15")), clock)


class Meter:
    """Feeds a command's lines to a counter, the log and a view; prints the summary or the failure."""

    def __init__(self, counter, view, label: str, log: Optional[TextIO] = None, log_path: str = "",
                 stream: Optional[TextIO] = None, tail: int = 40, stamp: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.counter, self.view, self.label, self.log, self.log_path = counter, view, label, log, log_path
        self.stream = stream or sys.stdout
        self.tail: deque[str] = deque(maxlen=tail)
        self.stamp, self.clock = stamp, clock
        self.t0 = clock()
        self.lock = threading.Lock()

    def prefix(self) -> str:
        return f"[{self.stamp} {time.strftime('%H:%M:%S')}] " if self.stamp else ""

    def text(self, body: str) -> str:
        return f"{self.prefix()}{self.label}: {body}"

    def feed(self, raw: str) -> None:
        line = ANSI.sub("", raw.rstrip("\r\n"))
        with self.lock:
            now = self.clock()
            if self.counter.feed(line, now):
                if line.strip():
                    self.tail.append(line)
                if self.log is not None:
                    self.log.write(line + "\n")
            self.refresh(now)

    def refresh(self, now: Optional[float] = None) -> None:
        now = self.clock() if now is None else now
        status = self.counter.status(now - self.t0, now)
        if status:
            self.view.show(self.text(f"{status}, elapsed {fmt_s(now - self.t0)}"))

    def finish(self, rc: int) -> int:
        self.view.close()
        elapsed = fmt_s(self.clock() - self.t0)
        where = f" (log: {self.log_path})" if self.log_path else ""
        if rc:
            print(self.text(f"failed (exit {rc}) after {elapsed}; last lines of {self.log_path or 'its output'}:"),
                  file=self.stream, flush=True)
            for line in self.tail:
                print(f"  {line}", file=self.stream)
            self.stream.flush()
            return rc
        print(self.text(f"{self.counter.summary()} in {elapsed}{where}"), file=self.stream, flush=True)
        return 0


def pip_bar(python: str) -> str:
    """``raw`` where this interpreter's pip has ``--progress-bar raw`` (pip 24.1 and later), else ``off``."""
    try:
        help_text = subprocess.run([python, "-m", "pip", "install", "--help"], capture_output=True, text=True,
                                   timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return "off"
    chunk = help_text.split("--progress-bar", 1)[-1].split("\n  -", 1)[0]
    return "raw" if re.search(r"\braw\b", chunk) else "off"


def pip_command(python: str, args: list[str], bar: Optional[str] = None) -> list[str]:
    """``PYTHON -m pip SUBCOMMAND --progress-bar BAR REST`` (``-q`` dropped: its lines are the counter)."""
    args = [a for a in args if a not in ("-q", "--quiet")]
    head = args[:1]
    return [python, "-m", "pip", *head, "--progress-bar", bar or pip_bar(python), *args[1:]]


def run(cmd: list[str], counter, label: str, log_path: str, stream: Optional[TextIO] = None, tail: int = 40,
        stamp: str = "", view=None) -> int:
    """Run ``cmd`` through a :class:`Meter`; returns its exit status (127 when it cannot start)."""
    stream = stream or sys.stdout
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "w") as log:
        meter = Meter(counter, view or make_view(stream), label, log, os.path.normpath(log_path), stream, tail, stamp)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                    errors="replace")
        except OSError as exc:
            meter.feed(f"cannot run {cmd[0]}: {exc}")
            return meter.finish(127)
        stop = threading.Event()
        every = 0.5 if isinstance(meter.view, LiveView) else getattr(meter.view, "every", 15.0)

        def tick() -> None:  # pip is silent while it installs, Maven between artifacts: keep elapsed moving
            while not stop.wait(max(every, 0.5)):
                with meter.lock:
                    meter.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            meter.feed(line)
        rc = proc.wait()
        stop.set()
        ticker.join()
        log.flush()
        return meter.finish(rc)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--label", default="")
    ap.add_argument("--log", required=True)
    ap.add_argument("--stamp", default="", help="prefix lines with [STAMP HH:MM:SS], as services.sh logs do")
    ap.add_argument("--tail", type=int, default=40)
    ap.add_argument("kind", choices=["pip", "mvn"])
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    if not a.cmd or (a.kind == "pip" and len(a.cmd) < 2):
        ap.error("missing command")
    if a.kind == "pip":
        cmd, counter = pip_command(a.cmd[0], a.cmd[1:]), PipCounter()
    else:
        cmd, counter = a.cmd, MavenCounter()
    return run(cmd, counter, a.label or a.kind, a.log, tail=a.tail, stamp=a.stamp)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
