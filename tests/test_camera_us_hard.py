"""Hard US scenes of the synthetic camera: plate designs, distractor text, night/infrared/glare.

The default camera output must not change (other tests and the demo depend on it): the
hashes below were computed with the camera code as it was before these options existed
(commit 9f71438), and the options are off by default.
"""

from __future__ import annotations

import hashlib
import json
import re

import cv2
import numpy as np
import pytest

from alpr.connectors.camera.lighting import LIGHTING
from alpr.connectors.camera.plates import STATES, render_plate
from alpr.connectors.camera.synthetic import SyntheticCamera, write_clip
from alpr.connectors.camera.us_designs import FEATURES, SEPARATORS, PlateDesign, Sticker, random_design
from alpr.connectors.camera.us_scenes import ROAD_SIGNS, SHOP_SIGNS, us_scene_samples

# ------------------------------------------------------------- default unchanged
# (n_frames, sha256 of render() arrays, sha256 of the JPEG bytes, sha256 of the truth as JSON)
OLD_CAMERAS = {
    (7, True): (84, "c78d05c912cf5820efc0a926f470d6764d841149ba1985c4b5e078f97ef346f3",
                "17b7a98ae509375f9464a477c007496a5f16152da969235a479c631ea0d419d8",
                "9ea133d392fe885ad4c7966b0f770bd137edff81f40c4fb215ec334b8af1cbce"),
    (3, False): (88, "2b08db5665313956ac5bdb26ef00d2f2a6f1742429b005102604419e2077c63a",
                 "e0c379a565cd65d749ff02dd037d2b2a4ccdce67521dd7f9cb8e48fe0f0f5cb2",
                 "9a95183d72c7df53013548d486e1882f12c2ed9aca738f0dedfe576d5cbd0a31"),
}
OLD_CLIP_TRUTH_FILE = "1bb5143fc8e967022015ea7413a90ed64cf4d71b021019104b7b07c29b8570a2"  # seed 7 clip's json
OLD_DEFAULT_RENDER = (238, "a3f86b1d37f7039c5d005c549947debc8effc8c031576af0df6535b17155239a")
OLD_PLATES = {("7ABC123", "CA", 1): "82b54d97ee1e2495fc06e31c38e52e3ba9802b150f5325221f50ff2ecb2dd057",
              ("ABC1234", "NY", None): "27189b0409f895122f7d09942cae87df07922323d39619d1132e0ed876c0cc32"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("seed,noise", sorted(OLD_CAMERAS))
def test_default_camera_output_is_unchanged(seed, noise):
    cam = SyntheticCamera("cam-1", "agency-a", n_vehicles=2, seed=seed, width=640, height=360, noise=noise)
    n, render_h, jpeg_h, truth_h = OLD_CAMERAS[(seed, noise)]
    assert cam.n_frames == n
    rendered, jpegs = hashlib.sha256(), hashlib.sha256()
    for seq in range(cam.n_frames):
        rendered.update(cam.render(seq).tobytes())
    for f in cam.frames():
        jpegs.update(f.data)
    assert rendered.hexdigest() == render_h
    assert jpegs.hexdigest() == jpeg_h
    assert _sha(json.dumps([t.to_dict() for t in cam.ground_truth()]).encode()) == truth_h


def test_default_camera_at_720p_and_its_clip_file_are_unchanged(tmp_path):
    cam = SyntheticCamera("cam-1", "agency-a")
    assert cam.n_frames == OLD_DEFAULT_RENDER[0]
    h = hashlib.sha256()
    for seq in range(cam.n_frames):
        h.update(cam.render(seq).tobytes())
    assert h.hexdigest() == OLD_DEFAULT_RENDER[1]
    clip = SyntheticCamera("cam-1", "agency-a", n_vehicles=2, seed=7, width=640, height=360)
    write_clip(tmp_path, clip)
    assert _sha((tmp_path / "ground_truth.json").read_bytes()) == OLD_CLIP_TRUTH_FILE


@pytest.mark.parametrize("text,state,seed", sorted(OLD_PLATES, key=str))
def test_plain_plate_rendering_is_unchanged(text, state, seed):
    assert _sha(render_plate(text, state, rng=seed).tobytes()) == OLD_PLATES[(text, state, seed)]


# ------------------------------------------------------------------ plate designs
def _dark_columns(img: np.ndarray, rows: slice) -> np.ndarray:
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return (gray[rows] < 110).any(axis=0)


def _widest_blank(cols: np.ndarray) -> int:
    best = run = 0
    for c in cols:
        run = 0 if c else run + 1
        best = max(best, run)
    return best


def test_separators_split_the_registration_into_two_groups():
    plain = render_plate("ABC1234", "WA", design=PlateDesign())
    assert np.array_equal(plain, render_plate("ABC1234", "WA")), "an empty design is the plain plate"
    top_of_chars = slice(int(0.33 * 160), int(0.42 * 160))  # above where a dot or dash sits
    inner = slice(int(0.1 * 320), int(0.9 * 320))
    plain_gap = _widest_blank(_dark_columns(plain, top_of_chars)[inner])
    images = {}
    for sep in SEPARATORS:
        img = render_plate("ABC1234", "WA", design=PlateDesign(separator=sep, split=3))
        images[sep] = img.tobytes()
        if sep in ("gap", "dot", "dash"):  # a blank column band between the groups at character-top height
            assert _widest_blank(_dark_columns(img, top_of_chars)[inner]) > plain_gap + 8, sep
    assert len(set(images.values())) == len(SEPARATORS)
    # an emblem is drawn in its own colour between the groups
    heart = render_plate("ABC1234", "WA", design=PlateDesign(separator="heart", split=3, emblem_color=(220, 30, 30)))
    b, g, r = (heart[40:120, 120:200, i].astype(int) for i in range(3))
    assert ((r > 170) & (g < 90) & (b < 90)).sum() > 60


def test_stickers_frame_and_stacked_code_are_drawn():
    base = render_plate("7ABC123", "CA")
    sticker = render_plate("7ABC123", "CA", design=PlateDesign(stickers=(Sticker("tr", ("MAR", "26"), (236, 196, 40)),)))
    corner = sticker[5:40, 250:315].astype(int)
    yellow = (corner[..., 2] > 190) & (corner[..., 1] > 150) & (corner[..., 0] < 100)
    assert yellow.mean() > 0.3
    assert np.array_equal(sticker[50:, :], base[50:, :]), "a top sticker leaves the registration alone"
    framed = render_plate("7ABC123", "CA", design=PlateDesign(frame_text="SMITH TOYOTA", frame_colors=((18, 18, 20), (235, 235, 235))))
    band = cv2.cvtColor(framed[140:158, 20:300], cv2.COLOR_BGR2GRAY)
    assert (band < 40).mean() > 0.5 and (band > 180).mean() > 0.05  # dark frame with light text
    for side in ("left", "right"):
        stacked = render_plate("7ABC123", "CA", design=PlateDesign(stacked="TK", stacked_side=side))
        dark = cv2.cvtColor(stacked, cv2.COLOR_BGR2GRAY)[45:125] < 110  # the registration band
        cols = np.nonzero(dark.any(axis=0))[0]
        edge = cols[0] if side == "left" else cols[-1]
        step = 1 if side == "left" else -1
        run = [edge]
        while dark[:, run[-1] + step].any():  # the outermost glyph column run
            run.append(run[-1] + step)
        rows = np.nonzero(dark[:, min(run): max(run) + 1].any(axis=1))[0]
        # two small letters one above the other: ink above and below the band's middle, a blank line between
        assert rows.min() < 15 and rows.max() > 65, (side, rows.min(), rows.max())
        assert len(set(range(rows.min(), rows.max() + 1)) - set(rows)) >= 3, side
        full = np.nonzero(dark[:, 100:220].any(axis=1))[0]  # the registration: one full-height line
        assert len(full) == full.max() - full.min() + 1 > 60


def test_random_design_is_seeded_and_respects_features():
    d1 = random_design("ABC1234", "TX", 5)
    assert d1 == random_design("ABC1234", "TX", 5)
    designs = [random_design("ABC1234", "TX", s) for s in range(60)]
    assert len({d.separator for d in designs}) > 3 and any(not d.separator for d in designs)
    only = [random_design("ABC1234", "TX", s, {"stacked"}, always=True) for s in range(20)]
    assert all(d.stacked and not d.separator and not d.stickers and not d.frame_text for d in only)
    assert all(d.split == 3 for d in (random_design("ABC1234", "TX", s, always=True) for s in range(5)))
    with pytest.raises(ValueError, match="unknown US plate features"):
        random_design("ABC1234", "TX", 1, {"sparkles"})


# ------------------------------------------------------------------ hard scenes
@pytest.fixture(scope="module")
def hard_cam() -> SyntheticCamera:
    return SyntheticCamera("us", "eval", n_vehicles=3, seed=11, us_hard=True)


def test_hard_scene_truth_is_the_registration_only(hard_cam, tmp_path):
    plain = SyntheticCamera("us", "eval", n_vehicles=3, seed=11)
    assert [t.to_dict() for t in hard_cam.ground_truth()] == [t.to_dict() for t in plain.ground_truth()]
    stacked = SyntheticCamera("us", "eval", n_vehicles=3, seed=11, us_hard={"stacked"})
    assert all(d is not None and len(d.stacked) == 2 for d in stacked.designs)
    write_clip(tmp_path, stacked)
    doc = json.loads((tmp_path / "ground_truth.json").read_text())
    assert doc["us_hard"] == ["stacked"]
    for row in doc["truth"]:
        code = stacked.designs[row["vehicle_id"]].stacked
        assert row["plate"] == stacked.vehicles[row["vehicle_id"]].plate
        assert re.fullmatch(r"[A-Z0-9]{6,7}", row["plate"])
        assert not row["plate"].startswith(code) and not row["plate"].endswith(code)
    assert "designs" not in doc and all(set(v) == set(doc["vehicles"][0]) for v in doc["vehicles"])


@pytest.mark.parametrize("mode", LIGHTING)
def test_same_seed_same_frames(mode):
    kw = dict(n_vehicles=1, seed=4, width=640, height=360, us_hard=True, lighting=mode)
    a, b = SyntheticCamera("c", "a", **kw), SyntheticCamera("c", "a", **kw)
    seqs = [t.seq for t in a.ground_truth()][::4]
    assert seqs and [a.frame(s).data for s in seqs] == [b.frame(s).data for s in seqs]
    other = SyntheticCamera("c", "a", **dict(kw, seed=5))
    assert other.render(seqs[0]).tobytes() != a.render(seqs[0]).tobytes()


def test_distractor_signs_are_in_the_scene_outside_every_plate(hard_cam):
    signs = hard_cam.distractors
    assert {d.kind for d in signs} == {"road", "shop"}
    texts = {" ".join(lines) for lines, _, _ in ROAD_SIGNS} | {t for t, _, _ in SHOP_SIGNS}
    assert all(d.text in texts for d in signs)
    plain = SyntheticCamera("us", "eval", n_vehicles=3, seed=11)
    empty = hard_cam.render(0).astype(int)  # no vehicle in view yet
    diff = np.abs(empty - plain.render(0).astype(int)).max(axis=2) > 0
    inside = np.zeros_like(diff)
    for d in signs:
        x0, y0, x1, y1 = d.box
        inside[y0:y1, x0:x1] = True
        gray = cv2.cvtColor(empty[y0:y1, x0:x1].astype(np.uint8), cv2.COLOR_BGR2GRAY)
        assert gray.std() > 30, f"{d.text}: the sign shows text on a panel"
    assert diff[inside].mean() > 0.5
    assert diff[~inside].mean() < 0.01  # only the signs (and the road sign's pole) are new
    for t in hard_cam.ground_truth():
        px0, py0, px1, py1 = t.bbox()
        for d in signs:
            x0, y0, x1, y1 = d.box
            assert x1 <= px0 or px1 <= x0 or y1 <= py0 or py1 <= y0, (d, t)


def test_bumper_stickers_sit_beside_the_plate():
    cam = SyntheticCamera("c", "a", n_vehicles=2, seed=3, width=640, height=360, us_hard={"distractors"})
    for t in cam.ground_truth()[:: 5]:
        cam.render(t.seq)
    for v in cam._vehicles:
        assert v.design.bumper_text and v.bumper is not None
        x0, y0, x1, y1 = v.bumper.box
        recess_x0 = v.plate_cx - 0.62 * v.plate_w
        recess_x1 = v.plate_cx + 0.62 * v.plate_w
        assert x1 <= recess_x0 or x0 >= recess_x1


def _mid_frame(mode: str, **kw) -> tuple[np.ndarray, np.ndarray]:
    cam = SyntheticCamera("c", "a", n_vehicles=1, seed=9, us_hard=True, lighting=mode, **kw)
    truth = cam.ground_truth()
    t = truth[len(truth) // 2]
    mask = np.zeros((cam.height, cam.width), np.uint8)
    cv2.fillConvexPoly(mask, np.round(np.array(t.corners)).astype(np.int32), 255)
    return cam.render(t.seq), mask > 0


def test_lighting_modes_change_the_image_as_they_should():
    day, plate = _mid_frame("day")
    night, _ = _mid_frame("night")
    ir, _ = _mid_frame("ir")
    glare, _ = _mid_frame("glare")
    gray = {k: cv2.cvtColor(v, cv2.COLOR_BGR2GRAY).astype(float) for k, v in
            (("day", day), ("night", night), ("ir", ir), ("glare", glare))}
    # night: much darker overall, the plate still lit, blooming lights, more noise on flat road
    assert gray["night"].mean() < 0.4 * gray["day"].mean()
    assert gray["night"][plate].mean() > 2 * gray["night"][~plate].mean()
    assert (night.max(axis=2) == 255).sum() > 50  # saturated bloom cores (tail lights, headlights)
    road = (slice(660, 700), slice(20, 300))
    assert np.diff(gray["night"][road], axis=1).std() > 1.3 * np.diff(gray["day"][road], axis=1).std()
    # infrared: grayscale, dark surroundings, a bright high-contrast plate
    assert np.array_equal(ir[..., 0], ir[..., 1]) and np.array_equal(ir[..., 1], ir[..., 2])
    assert gray["ir"][~plate].mean() < 0.5 * gray["day"][~plate].mean()
    assert gray["ir"][plate].mean() > 3 * gray["ir"][~plate].mean()
    lo, hi = np.percentile(gray["ir"][plate], [5, 80])
    assert hi - lo > 150
    # glare: a saturated patch over part of the plate, not all of it
    new_sat = (glare.min(axis=2) == 255) & (day.min(axis=2) < 255)
    assert 0.005 < new_sat[plate].mean() < 0.5, new_sat[plate].mean()
    assert (glare == day).all(axis=2)[plate].mean() > 0.3  # partly over the plate
    assert np.array_equal(glare[~plate & ~_near(plate, 200)], day[~plate & ~_near(plate, 200)])


def _near(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown lighting"):
        SyntheticCamera("c", "a", lighting="dusk")
    with pytest.raises(ValueError, match="unknown US plate features"):
        SyntheticCamera("c", "a", us_hard={"sparkles"})
    with pytest.raises(ValueError, match="designs"):
        SyntheticCamera("c", "a", n_vehicles=2, designs=[None])
    assert set(FEATURES) == {"separators", "stickers", "frames", "stacked", "distractors"}


def test_explicit_designs_replace_the_random_ones():
    md = PlateDesign(separator="shield", split=3, emblem_color=(200, 30, 40))
    cam = SyntheticCamera("c", "a", n_vehicles=2, seed=2, width=640, height=360, designs=[md, None])
    assert cam.designs == [md, None] and cam.distractors == []
    assert cam.metadata().keys() == SyntheticCamera("c", "a", n_vehicles=2, seed=2).metadata().keys()


def test_us_scene_samples_mix_lighting_and_are_deterministic():
    first = list(us_scene_samples(4, seed=3))
    assert [s.tags[0] for s in first] == ["day", "night", "ir", "glare"]
    for name, img, plate, state, tags in first:
        assert img.shape == (720, 1280, 3) and state in STATES and re.fullmatch(r"[A-Z0-9]{6,7}", plate), name
        assert set(tags[1:]) <= {"separator", "stickers", "frame", "stacked", "bumper sticker"}
    assert any(len(s.tags) > 1 for s in first)
    again = list(us_scene_samples(2, seed=3))
    assert all(np.array_equal(a.image, b.image) and (a.plate, a.tags) == (b.plate, b.tags) for a, b in zip(first, again))


def test_eval_synthetic_us_set_reports_false_plates_per_condition():
    import importlib.util
    import sys
    import types
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_accuracy.py"
    spec = importlib.util.spec_from_file_location("eval_accuracy_us", path)
    ev = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = ev  # its dataclasses look their module up
    spec.loader.exec_module(ev)
    samples = list(ev.load_synthetic(2, seed=3, us=True))
    assert [s.tags[0] for s in samples] == ["day", "night"] and all(s.state in STATES for s in samples)

    class Reader:  # reads the first plate right and also reports a road sign as a plate
        def recognize(self, image):
            want = samples[self.i].plate if self.i == 0 else "XXXXXXX"
            self.i += 1
            plate = lambda t: types.SimpleNamespace(plate=t, confidence=0.9, candidates=[types.SimpleNamespace(plate=t)])
            return [plate(want), plate("EXIT798")]

    r = Reader()
    r.i = 0
    res = ev.evaluate(r, samples)
    assert res["images"] == 2 and res["top1_exact"] == 0.5
    assert res["false_plates_per_image"] == 1.5  # the sign twice, the misread once
    assert res["per_tag"]["day"] == {"images": 1, "top1_exact": 1.0, "false_plates_per_image": 1.0}
    assert res["per_tag"]["night"] == {"images": 1, "top1_exact": 0.0, "false_plates_per_image": 2.0}
