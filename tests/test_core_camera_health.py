"""Per-camera health (issue 13 item 10): the engine-neutral state machine that the Flink job's
``CameraHealth`` operator runs, records per camera on a topic instead of per-camera metric labels."""
from __future__ import annotations

import json

from alpr.pipelines.core.camera_health import check_silent, observe


def _run(frames, every_s=10.0):
    state, out = None, []
    for capture_ts, now in frames:
        state, body = observe(state, "cam-1", "DHSPD", capture_ts, now, every_s)
        if body is not None:
            out.append(json.loads(body))
    return state, out


def test_frames_are_counted_into_one_record_per_window_of_event_time():
    state, out = _run([(100.0 + i, 100.5 + i) for i in range(25)])  # 1 frame/s for 25 s
    assert [r["frames"] for r in out] == [11, 10]
    assert all(r["status"] == "ok" and r["camera_id"] == "cam-1" and r["agency"] == "DHSPD" for r in out)
    assert out[0]["window_start"] == 100.0 and out[1]["window_start"] == 110.0
    assert out[-1]["lag_s"] == 0.5 and state.frames == 4


def test_a_camera_that_stops_sending_is_reported_silent_once_and_ok_when_it_comes_back():
    state, _ = _run([(100.0, 100.0), (101.0, 101.0)])
    assert check_silent(state, 150.0, 60.0) == (state, None)  # 49 s: not yet
    state, body = check_silent(state, 161.5, 60.0)
    rec = json.loads(body)
    assert rec["status"] == "silent" and rec["silent_s"] == 60.5 and rec["last_capture_ts"] == 101.0
    assert check_silent(state, 300.0, 60.0)[1] is None  # reported once, not on every timer
    state, body = observe(state, "cam-1", "DHSPD", 400.0, 400.2)
    assert json.loads(body)["status"] == "ok"  # back: said at once, not a window later
    assert check_silent(state, 430.0, 60.0)[1] is None


def test_no_state_no_record():
    assert check_silent(None, 1e9, 60.0) == (None, None)
