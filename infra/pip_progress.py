"""``make install``'s pip run, with a progress counter instead of two silent minutes.

Runs ``python -m pip install ARGS`` in this interpreter (the project's virtualenv) through
``infra/stream_progress.py``: a counter of packages collected (rate; the total is unknown until pip
has resolved everything; bytes, rate and ETA of a large download), then the packages being
installed, with the elapsed time. pip's full output goes to ``LOG`` (``PIP_PROGRESS_LOG``, default
``.venv/pip-install.log``); when pip fails its last 40 lines are printed and pip's exit status is
returned. Uses only the standard library and pip's vendored ``rich`` (the project's own
dependencies are not installed yet when this runs).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stream_progress import PipCounter, pip_command, run  # noqa: E402


def main(argv: list[str]) -> int:
    log_path = os.environ.get("PIP_PROGRESS_LOG", os.path.join(os.path.dirname(sys.executable), "..",
                                                               "pip-install.log"))
    return run(pip_command(sys.executable, ["install", *argv]), PipCounter(), "install", log_path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
