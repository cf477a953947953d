"""The synthetic camera: plates, determinism, ground truth agreeing with the pixels."""

from __future__ import annotations

import re
from collections import defaultdict

import cv2
import numpy as np
import pytest

from alpr.connectors.camera.sources import FolderSource
from alpr.connectors.camera.synthetic import (
    STATES,
    SyntheticCamera,
    VehicleSpec,
    load_ground_truth,
    random_plate,
    render_plate,
    write_clip,
)
from alpr.records import Frame


@pytest.fixture(scope="module")
def cam() -> SyntheticCamera:
    return SyntheticCamera("cam-1", "agency-a", n_vehicles=4, seed=7)


@pytest.fixture(scope="module")
def truth(cam):
    return cam.ground_truth()


def _decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "frame is not a decodable image"
    return img


# ------------------------------------------------------------------ plates
STATE_RE = {
    "CA": r"^[1-9][A-Z]{3}[0-9]{3}$",
    "TX": r"^[A-Z]{3}[0-9]{4}$",
    "NY": r"^[A-Z]{3}[0-9]{4}$",
    "FL": r"^[A-Z]{4}[0-9]{2}$",
    "WA": r"^[A-Z]{3}[0-9]{4}$",
    "IL": r"^[A-Z]{2}[0-9]{5}$",
    "NJ": r"^[A-Z][0-9]{2}[A-Z]{3}$",
}


@pytest.mark.parametrize("state", sorted(STATE_RE))
def test_random_plate_follows_state_format_and_avoids_excluded_letters(state):
    rng = np.random.default_rng(3)
    plates = [random_plate(state, rng) for _ in range(300)]
    assert all(re.match(STATE_RE[state], p) for p in plates), plates[:5]
    letters = set("".join(plates)) - set("0123456789")
    assert not letters & set("IOQ"), f"{state} generated excluded letters {letters & set('IOQ')}"
    if state == "TX":
        assert not letters & set("AEIOU")
    assert len(set(plates)) > 250  # actually random


def test_random_plate_is_deterministic_for_a_seed():
    assert [random_plate("CA", 5) for _ in range(3)] == [random_plate("CA", 5)] * 3
    assert random_plate("CA", 5) != random_plate("CA", 6)


def test_render_plate_is_a_light_plate_with_dark_characters():
    img = render_plate("7ABC123", "CA", rng=1)
    assert img.dtype == np.uint8 and img.shape == (160, 320, 3)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert np.median(gray) > 180  # light background
    # the registration band (rows ~30-76% of the height) holds a lot of dark ink
    band = gray[int(0.32 * 160): int(0.74 * 160), int(0.1 * 320): int(0.9 * 320)]
    dark = (band < 100).mean()
    assert 0.15 < dark < 0.6, dark
    # header/slogan are lighter than the registration ink
    assert band.min() < gray[: int(0.22 * 160), int(0.25 * 320): int(0.75 * 320)].min()


def test_render_plate_is_deterministic_and_varies_by_text_and_seed():
    a = render_plate("ABC1234", "TX", rng=4)
    assert np.array_equal(a, render_plate("ABC1234", "TX", rng=4))
    assert not np.array_equal(a, render_plate("ABC1235", "TX", rng=4))
    assert not np.array_equal(a, render_plate("ABC1234", "TX", rng=5))
    assert np.array_equal(render_plate("ABC1234", "TX"), render_plate("ABC1234", "TX"))
    assert render_plate("ABC1234", "NY", width=200).shape == (100, 200, 3)


def test_render_plate_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown plate state"):
        render_plate("ABC123", "ZZ")
    with pytest.raises(ValueError, match="A-Z/0-9"):
        render_plate("AB$123", "CA")
    with pytest.raises(ValueError, match="A-Z/0-9"):
        render_plate("", "CA")


# ------------------------------------------------------------------ camera
def test_frames_are_jpegs_of_the_right_size_and_timing(cam, truth):
    for seq in (0, truth[0].seq, truth[-1].seq, cam.n_frames - 1):
        f = cam.frame(seq)
        assert isinstance(f, Frame) and f.seq == seq
        assert f.data[:2] == b"\xff\xd8"
        assert _decode(f.data).shape == (720, 1280, 3)
        assert f.capture_ts == pytest.approx(cam.start_ts + seq / cam.fps)
        assert (f.camera_id, f.agency, f.source) == ("cam-1", "agency-a", "synthetic")


def test_frames_iterates_the_whole_clip_in_order():
    small = SyntheticCamera("c", "a", n_vehicles=2, seed=1, width=320, height=240, fps=4.0, start_ts=100.0)
    frames = list(small.frames())
    assert len(frames) == small.n_frames == len(small)
    assert [f.seq for f in frames] == list(range(small.n_frames))
    assert [f.capture_ts for f in frames] == pytest.approx([100.0 + i / 4.0 for i in range(small.n_frames)])
    assert all(_decode(f.data).shape == (240, 320, 3) for f in frames[::7])
    assert frames[-1].capture_ts - frames[0].capture_ts >= 2 * 1.8 + small.gap_s  # two passages and a gap


def test_same_seed_same_clip_other_seed_other_clip(cam, truth):
    twin = SyntheticCamera("cam-1", "agency-a", n_vehicles=4, seed=7)
    assert twin.vehicles == cam.vehicles
    assert twin.ground_truth() == truth
    seqs = sorted({t.seq for t in truth})[:3] + [0]
    for s in seqs:
        assert twin.frame(s).data == cam.frame(s).data
    other = SyntheticCamera("cam-1", "agency-a", n_vehicles=4, seed=8)
    assert [v.plate for v in other.vehicles] != [v.plate for v in cam.vehicles]


def test_ground_truth_plates_inside_image_and_valid(cam, truth):
    assert truth, "no plate visible in any frame"
    specs = cam.vehicles
    for t in truth:
        assert len(t.corners) == 4
        x0, y0, x1, y1 = t.bbox()
        assert 0 <= x0 < x1 <= cam.width - 1 and 0 <= y0 < y1 <= cam.height - 1
        assert 100 <= x1 - x0 <= 280  # a 720p ALPR camera sees plates ~120-250 px wide
        assert re.fullmatch(r"[A-Z0-9]+", t.plate)
        assert t.plate == specs[t.vehicle_id].plate and t.state == specs[t.vehicle_id].state
        assert t.capture_ts == pytest.approx(cam.start_ts + t.seq / cam.fps)


def test_each_vehicle_seen_in_consecutive_frames_and_separated_by_gap(cam, truth):
    seen = defaultdict(list)
    for t in truth:
        seen[t.vehicle_id].append(t)
    assert sorted(seen) == list(range(len(cam.vehicles)))
    windows = []
    for vid, ts in sorted(seen.items()):
        seqs = [t.seq for t in ts]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"vehicle {vid} not consecutive: {seqs}"
        assert 8 <= len(seqs) <= 15, f"vehicle {vid} visible in {len(seqs)} frames"
        windows.append((ts[0].capture_ts, ts[-1].capture_ts))
        # the plate moves across the image (enters on one side, leaves on the other)
        xs = [t.bbox()[0] for t in ts]
        assert abs(xs[-1] - xs[0]) > cam.width / 2
    windows.sort()
    for (_, end), (start, _) in zip(windows, windows[1:]):
        assert start - end >= cam.gap_s
    # never two plates in one frame with the default gap
    assert len({t.seq for t in truth}) == len(truth)


def test_gap_is_configurable():
    c = SyntheticCamera("c", "a", n_vehicles=3, seed=1, gap_s=12.0, noise=False)
    gt = c.ground_truth()
    first = {}
    last = {}
    for t in gt:
        first.setdefault(t.vehicle_id, t.capture_ts)
        last[t.vehicle_id] = t.capture_ts
    assert first[1] - last[0] >= 12.0 and first[2] - last[1] >= 12.0


def _plate_point(corners, u, v):
    """Image point at relative plate position (u, v) in [0,1]^2 via the truth corners."""
    src = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    M = cv2.getPerspectiveTransform(src, np.array(corners, np.float32))
    p = cv2.perspectiveTransform(np.array([[[u, v]]], np.float32), M)[0, 0]
    return int(round(p[0])), int(round(p[1]))


PLATE_INSIDE = [(0.02, 0.5), (0.98, 0.5), (0.5, 0.05), (0.3, 0.8), (0.15, 0.95)]  # light plate margins
PLATE_OUTSIDE = [(-0.08, 0.5), (1.08, 0.5), (0.5, -0.12), (0.5, 1.12)]  # dark car body around it


def _corners_fit(gray, corners) -> bool:
    h, w = gray.shape

    def at(u, v):
        x, y = _plate_point(corners, u, v)
        return int(gray[min(max(y, 0), h - 1), min(max(x, 0), w - 1)])

    inside = [at(u, v) for u, v in PLATE_INSIDE]
    outside = [at(u, v) for u, v in PLATE_OUTSIDE]
    return min(inside) > 170 and max(outside) < 170


@pytest.mark.parametrize("lane_y", [300, 500, 590])
def test_ground_truth_corners_match_the_rendered_plate(lane_y):
    spec = VehicleSpec("7ABC123", "CA", enter_ts=0.2, speed_px_s=500.0, lane_y=lane_y, color=(32, 32, 36))
    c = SyntheticCamera("c", "a", vehicles=[spec], noise=False)
    gt = c.ground_truth()
    assert gt and {t.plate for t in gt} == {"7ABC123"}
    for t in gt[:: max(1, len(gt) // 4)]:
        gray = cv2.cvtColor(c.render(t.seq), cv2.COLOR_BGR2GRAY)
        assert _corners_fit(gray, t.corners), t
        # the check is tight: corners a few pixels off fail it
        for dx, dy in ((5, 0), (-5, 0), (0, 4), (0, -4)):
            assert not _corners_fit(gray, [(x + dx, y + dy) for x, y in t.corners]), (t.seq, dx, dy)
        # the registration band holds dark ink
        x0, y0 = _plate_point(t.corners, 0.15, 0.4)
        x1, y1 = _plate_point(t.corners, 0.85, 0.65)
        assert gray[min(y0, y1): max(y0, y1), min(x0, x1): max(x0, x1)].min() < 90


def test_direction_follows_speed_sign():
    left_to_right = VehicleSpec("ABC1234", "TX", 0.0, 600.0, 500, (200, 200, 200))
    right_to_left = VehicleSpec("ABC1234", "TX", 0.0, -600.0, 500, (200, 200, 200))
    for spec, sign in ((left_to_right, 1), (right_to_left, -1)):
        gt = SyntheticCamera("c", "a", vehicles=[spec], noise=False).ground_truth()
        xs = [t.bbox()[0] for t in gt]
        assert len(xs) > 3 and all(sign * (b - a) > 0 for a, b in zip(xs, xs[1:]))


def test_noise_changes_pixels_but_not_geometry():
    clean = SyntheticCamera("c", "a", n_vehicles=1, seed=3, noise=False)
    noisy = SyntheticCamera("c", "a", n_vehicles=1, seed=3, noise_level=1.5)
    seq = clean.ground_truth()[3].seq
    a, b = clean.render(seq).astype(int), noisy.render(seq).astype(int)
    assert np.abs(a - b).mean() > 2.0
    assert clean.vehicles == noisy.vehicles
    # the plate jitters by a few pixels, so only a frame at the image edge may differ
    a_seqs, b_seqs = {t.seq for t in clean.ground_truth()}, {t.seq for t in noisy.ground_truth()}
    assert len(a_seqs ^ b_seqs) <= 2 and len(a_seqs & b_seqs) >= 8
    # with noise off the only randomness left is per-vehicle, so the plate box is axis-aligned
    t = clean.ground_truth()[0]
    (x0, y0), (x1, y1) = t.corners[0], t.corners[1]
    assert y0 == pytest.approx(y1, abs=0.01)


def test_invalid_vehicle_specs_are_rejected():
    with pytest.raises(ValueError, match="A-Z/0-9 without gaps"):
        SyntheticCamera("c", "a", vehicles=[VehicleSpec("ab c", "CA", 0, 500, 500, (0, 0, 0))])
    with pytest.raises(ValueError, match="unknown state"):
        SyntheticCamera("c", "a", vehicles=[VehicleSpec("ABC123", "XX", 0, 500, 500, (0, 0, 0))])
    with pytest.raises(ValueError, match="lane_y"):
        SyntheticCamera("c", "a", vehicles=[VehicleSpec("ABC123", "CA", 0, 500, 5, (0, 0, 0))])
    with pytest.raises(ValueError, match="fps"):
        SyntheticCamera("c", "a", fps=0)
    with pytest.raises(IndexError):
        SyntheticCamera("c", "a", n_vehicles=1).render(10_000)


def test_states_restrict_generated_plates():
    c = SyntheticCamera("c", "a", n_vehicles=6, seed=2, states=["IL"])
    assert {v.state for v in c.vehicles} == {"IL"}
    assert all(re.match(STATE_RE["IL"], v.plate) for v in c.vehicles)
    assert set(STATES) >= set(STATE_RE)


def test_write_clip_and_load_ground_truth_round_trip(tmp_path):
    c = SyntheticCamera("cam-9", "ag", n_vehicles=2, seed=11, width=640, height=360, fps=4.0)
    out = write_clip(tmp_path / "clip", c)
    files = sorted(p.name for p in out.glob("frame_*.jpg"))
    assert files[0] == "frame_000000.jpg" and len(files) == c.n_frames
    gt = load_ground_truth(out)
    assert gt.truth == c.ground_truth()
    assert gt.vehicles == c.vehicles
    assert (gt.fps, gt.start_ts, gt.width, gt.height, gt.n_frames) == (4.0, c.start_ts, 640, 360, c.n_frames)
    assert load_ground_truth(out / "ground_truth.json") == gt
    # replaying the folder gives the same frames with the clip's timing
    frames = list(FolderSource(out, "cam-9", "ag"))
    assert [f.seq for f in frames] == list(range(c.n_frames))
    assert frames[5].capture_ts == pytest.approx(c.capture_ts(5))
    assert frames[5].data == c.frame(5).data
    assert _decode(frames[0].data).shape == (360, 640, 3)


def test_load_ground_truth_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_ground_truth(tmp_path)
    (tmp_path / "ground_truth.json").write_text('{"fps": 5}')
    with pytest.raises(ValueError, match="not a synthetic clip"):
        load_ground_truth(tmp_path)
