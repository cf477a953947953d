"""Progress and results as they happen; pictures of what the reader saw; the issue's small defects.

The demo test runs the real ``alpr demo`` in its own process and checks the order of its output:
the first GROUP/ALERT line must come before the last frame is recognised (it used to come only
after the whole clip)."""
import io
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from alpr.app.live import quiet_cuts
from alpr.app.progress import Progress
from alpr.config import Settings
from alpr.connectors.camera.sources import DEFAULT_CAMERA_ID, FolderSource, open_source
from alpr.connectors.camera.synthetic import SyntheticCamera, render_plate, write_clip
from alpr.connectors.hotlists import ImportOptions, parse_text


# --------------------------------------------------------------------------- progress
def test_quiet_cuts_only_where_no_vehicle_is_in_view():
    visible = [(s, 1) for s in range(2, 23)] + [(s, 2) for s in range(53, 80)] + [(s, 3) for s in range(78, 90)]
    # vehicle 3 overlaps vehicle 2: no cut between them; 30 quiet frames before vehicle 2: a cut
    # in the middle of them (reads come a frame or two beyond the fully visible frames)
    assert quiet_cuts(visible, 120, min_gap_frames=23) == [38]
    assert quiet_cuts(visible, 120, min_gap_frames=40) == []  # a gap shorter than time_delta: no cut


def test_progress_lines_on_a_pipe_have_rate_and_eta():
    out = io.StringIO()
    with Progress("frames", total=200, unit="frames", stream=out, every_s=0.0) as bar:
        for _ in range(100):
            bar.advance()
    lines = out.getvalue().splitlines()
    assert lines, "no progress line on a pipe"
    mid = lines[49]
    assert re.search(r"frames: 50/200 frames \(25%\), [\d.]+ frames/s, elapsed \d+:\d\d, ETA \d+:\d\d", mid), mid
    assert lines[-1].startswith("frames: 100/200 frames (50%)")


def test_progress_off_prints_nothing():
    out = io.StringIO()
    with Progress("x", total=3, stream=out, every_s=0.0, enabled=False) as bar:
        bar.advance(3)
    assert out.getvalue() == "" and bar.done == 3


def test_demo_prints_groups_and_alerts_while_frames_are_still_being_read(tmp_path):
    env = dict(os.environ, ALPR_PROGRESS="on")
    p = subprocess.run([sys.executable, "-m", "alpr.app.cli", "demo", "--out", str(tmp_path / "demo"),
                        "--vehicles", "3", "--hits", "1", "--seed", "7"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    reads = [i for i, l in enumerate(lines) if l.startswith("READ ")]
    results = [i for i, l in enumerate(lines) if l.startswith(("GROUP ", "ALERT "))]
    assert reads and results
    assert results[0] < reads[-1], "every GROUP/ALERT came after the last READ"
    assert any(l.startswith("ALERT ") for l in lines)
    assert "Traceback" not in p.stderr and "WARNING" not in p.stderr, p.stderr
    assert re.search(r"demo frames: \d+/\d+ frames \(\d+%\), [\d.]+ frames/s", p.stderr), p.stderr
    report_line = [l for l in lines if l.startswith("demo: report ")]
    assert report_line and lines[-1].startswith("summary: ")
    html = (tmp_path / "demo" / "report.html").read_text()
    alerts = [json.loads(l) for l in (tmp_path / "demo" / "alerts.jsonl").read_text().splitlines()]
    assert alerts and all(a["read_plate"] in html for a in alerts)
    assert html.count('<img alt="') >= len(alerts) and "data:image/jpeg;base64," in html
    assert "Plate groups (" in html and "Counts" in html


# --------------------------------------------------------------------------- pictures
def test_read_annotate_draws_each_plate_box_and_text(tmp_path):
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    plate = render_plate("7ABC123", "CA", width=260)
    h, w = plate.shape[:2]
    canvas[400:400 + h, 500:500 + w] = plate
    src = tmp_path / "car.jpg"
    cv2.imwrite(str(src), canvas)
    out_dir = tmp_path / "annotated"
    p = subprocess.run([sys.executable, "-m", "alpr.app.cli", "read", "--json", "--annotate", str(out_dir), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)["results"][0]
    written = out_dir / "car.annotated.jpg"
    img = cv2.imread(str(written))
    assert img.shape == canvas.shape
    xs = [c["x"] for c in result["coordinates"]]
    ys = [c["y"] for c in result["coordinates"]]
    box_edge = img[min(ys) - 3:min(ys) + 3, min(xs):max(xs)]
    assert np.abs(box_edge.astype(int) - canvas[min(ys) - 3:min(ys) + 3, min(xs):max(xs)].astype(int)).mean() > 20
    label = img[max(0, min(ys) - 40):min(ys) - 4, min(xs):min(xs) + 120]
    assert (label >= 200).all(axis=2).sum() > 30  # white label text on the box colour (JPEG-soft)


# --------------------------------------------------------------------------- small defects
def test_synthetic_clip_keeps_its_own_camera_id(tmp_path):
    cam = SyntheticCamera("cam-north-7", "DHSPD", n_vehicles=1, seed=1, width=320, height=180)
    write_clip(tmp_path / "clip", cam)
    src = open_source(str(tmp_path / "clip"), camera_id=Settings().camera_id, agency="DHSPD")
    assert DEFAULT_CAMERA_ID == "cam-1"
    assert src.camera_id == "cam-north-7"
    assert next(iter(src)).camera_id == "cam-north-7"
    assert FolderSource(tmp_path / "clip", camera_id="cam-explicit", agency="DHSPD").camera_id == "cam-explicit"


@pytest.mark.parametrize("fmt,text,blank", [
    ("openalpr", "Plate Number,Description,Match Strategy\nABC123,x,exact\n\n,,\nXYZ789,y,exact\n", [3, 4]),
    ("csv", "plate,list_code\nABC123,HOT\n   \nXYZ789,HOT\n", [3]),
])
def test_blank_rows_are_reported(fmt, text, blank):
    rep = parse_text(text, fmt, ImportOptions(list_code="HOT"))
    assert rep.blank_lines == blank
    assert len(rep.entries) == 2 and f"blank={len(blank)}" in rep.summary()


@pytest.fixture
def login(tmp_path, monkeypatch):
    """``alpr hotlist import`` logs an account in and needs a purpose and a case (tests/cli_accounts.py)."""
    from cli_accounts import CliAccounts

    return CliAccounts(tmp_path, monkeypatch).as_()


def test_hotlist_cli_names_blank_lines_and_dob_in_the_plate_column(tmp_path, login):
    f = tmp_path / "h.csv"
    f.write_text("Plate Number,Description,Match Strategy\nABC123,Stolen,exact\n\nDOB 01/02/1980,x,exact\n"
                 "02/03/1979,y,exact\n")
    p = subprocess.run([sys.executable, "-m", "alpr.app.cli", "hotlist", "import", str(f), "--list", "HOT",
                        "--store", f"sqlite:{tmp_path / 'h.db'}", *login], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "line 3: blank row skipped" in p.stderr
    assert "line 4: rejected: personal data (date of birth) in the plate column" in p.stderr
    assert "line 5: rejected: personal data (date of birth) in the plate column" in p.stderr
    assert "blank=1" in p.stdout and "accepted=1" in p.stdout


def test_description_dob_still_names_the_description():
    rep = parse_text("Plate Number,Description,Match Strategy\nMNO888,DOB 01/02/1980,exact\n", "openalpr",
                     ImportOptions(list_code="HOT"))
    assert "in the description column" in rep.rejected[0].reason


def test_hotlist_import_default_store_is_the_pipeline_default(tmp_path, login):
    f = tmp_path / "h.csv"
    f.write_text("Plate Number,Description,Match Strategy\nABC123,Stolen,exact\n")
    # no ALPR_* setting but the login's (password, governance database and keys)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ALPR_") or k.startswith("ALPR_GOV_") or k == "ALPR_PASSWORD"}
    p = subprocess.run([sys.executable, "-m", "alpr.app.cli", "hotlist", "import", str(f), "--list", "HOT", *login],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert Settings().store == "sqlite:.run/alpr.db"
    assert (tmp_path / ".run" / "alpr.db").is_file() and not (tmp_path / "alpr.db").exists()
