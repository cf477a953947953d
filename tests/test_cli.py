"""`alpr` command line: read (OpenALPR-style JSON, per-file errors), demo wiring, run with a hotlist file."""
import json

import cv2
import numpy as np
import pytest

from alpr.app.cli import build_parser, main
from alpr.connectors.camera.synthetic import SyntheticCamera, render_plate


@pytest.fixture
def plate_photo(tmp_path):
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    plate = render_plate("7ABC123", "CA", width=260)
    h, w = plate.shape[:2]
    canvas[400:400 + h, 500:500 + w] = plate
    path = tmp_path / "car.jpg"
    cv2.imwrite(str(path), canvas)
    return path


def test_read_json_one_object_per_image_and_errors_per_file(plate_photo, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    status = main(["read", "--json", "-n", "5", str(plate_photo), str(tmp_path / "missing.jpg"), str(broken),
                   str(plate_photo)])
    out, err = capsys.readouterr()
    assert status != 0
    lines = [json.loads(l) for l in out.splitlines()]
    assert len(lines) == 2  # both good images processed despite the bad ones between them
    obj = lines[0]
    assert (obj["img_width"], obj["img_height"]) == (1280, 720) and obj["processing_time_ms"] > 0
    best = obj["results"][0]
    assert best["plate"] == "7ABC123" and 0 < best["confidence"] <= 100
    assert len(best["coordinates"]) == 4
    xs = [p["x"] for p in best["coordinates"]]
    assert 480 <= min(xs) and max(xs) <= 500 + 260 + 20
    assert 1 <= len(best["candidates"]) <= 5
    confs = [c["confidence"] for c in best["candidates"]]
    assert confs == sorted(confs, reverse=True)
    assert "missing.jpg" in err and "broken.jpg" in err


def test_read_text_output(plate_photo, capsys):
    assert main(["read", str(plate_photo)]) == 0
    assert "7ABC123" in capsys.readouterr().out


def test_every_command_group_is_registered():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"read", "demo", "run", "synth", "hotlist", "alerts", "gateway", "serve", "audit", "evidence",
            "users", "metrics"} <= set(sub.choices)


def test_run_with_a_hotlist_file_as_side_input(tmp_path, capsys, monkeypatch):
    cam = SyntheticCamera("cam-1", "DHSPD", n_vehicles=1, seed=7)  # the settings defaults
    plate = cam.vehicles[0].plate
    hot = tmp_path / "hot.csv"
    hot.write_text(f"Plate Number,Description,Match Strategy\n{plate},stolen (test),exact\n")
    monkeypatch.chdir(tmp_path)
    status = main(["run", "--source", "synthetic:1", "--store", f"sqlite:{tmp_path}/s.db", "--hotlist", str(hot)])
    out = capsys.readouterr().out
    assert status == 0
    assert plate not in out and "ALERT" not in out  # no plates on stdout (container logs) by default
    summary = [l for l in out.splitlines() if l.startswith("summary:")][-1]
    assert " alerts=1 " in summary
    # --debug prints reads, groups and alerts with their plates
    status = main(["--debug", "run", "--source", "synthetic:1", "--store", f"sqlite:{tmp_path}/d.db",
                   "--hotlist", str(hot)])
    out = capsys.readouterr().out
    assert status == 0 and "ALERT" in out and plate in out


def test_run_refuses_retention_below_policy_floor(monkeypatch, capsys):
    monkeypatch.setenv("ALPR_RETENTION_DAYS", "30")
    assert main(["run", "--source", "synthetic:1"]) == 2
    assert "policy floor" in capsys.readouterr().err


def test_synth_clip_then_run_on_the_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["synth", str(tmp_path / "clip"), "--vehicles", "1", "--seed", "4", "--camera", "cam-9"]) == 0
    truth = json.loads((tmp_path / "clip" / "ground_truth.json").read_text())
    plate = truth["vehicles"][0]["plate"]
    capsys.readouterr()
    assert main(["--debug", "run", "--source", str(tmp_path / "clip"), "--store", f"sqlite:{tmp_path}/s.db"]) == 0
    out = capsys.readouterr().out  # (--debug: groups print with their plates)
    groups = [l for l in out.splitlines() if l.startswith("GROUP")]
    assert any(plate in g and "reads=1 " not in g for g in groups), groups


@pytest.mark.parametrize("header,row", [("plate,list_code,agency", "7AAA111,HOT,PSPD"),
                                        ("plate,list_code,shared_with", "7AAA111,HOT,DHSPD")])
def test_a_run_hotlist_file_cannot_make_entries_an_agencys_own_or_share_them(tmp_path, capsys, header, row):
    """`alpr run --hotlist` has no login, purpose or access log: its file is a shared list. An
    agency's (covert) entries and their extension to other agencies come through the logged,
    owner-scoped import, the API and agreements, never through a file given to a run."""
    hot = tmp_path / "hot.csv"
    hot.write_text(f"{header}\n{row}\n")
    status = main(["run", "--source", "synthetic:1", "--store", f"sqlite:{tmp_path}/s.db", "--hotlist", str(hot)])
    err = capsys.readouterr().err
    assert status != 0 and "a file given to `alpr run` is a shared list" in err
    assert "7AAA111" not in err  # the message names the problem, not the plate
