"""A synthetic ALPR camera: plates on vehicles passing through a fixed view, with truth.

Vehicles cross the frame one at a time (left to right for a positive ``speed_px_s``,
right to left for a negative one), separated by at least ``gap_s`` seconds of empty road,
so a grouping stage with a time delta below ``gap_s`` never merges two vehicles. Each
frame is rendered from the geometry alone, so :meth:`SyntheticCamera.ground_truth`
agrees with :meth:`SyntheticCamera.frames` exactly and both are deterministic for a seed.

Per-frame noise (scaled by ``noise_level``; 0 disables it): a slight perspective warp
and rotation of the plate, horizontal motion blur and focus blur on the vehicle,
brightness/contrast change, Gaussian sensor noise, and JPEG compression at
``jpeg_quality``.

Hard US scenes are opt-in (the default output does not change): ``us_hard`` gives plates
US designs (separators and emblems, stickers, dealer frames, stacked type codes; see
:mod:`~alpr.connectors.camera.us_designs`) and puts road signs, a shop sign and bumper
stickers in the scene (:mod:`~alpr.connectors.camera.us_scenes`); ``lighting`` is ``day``,
``night``, ``ir`` or ``glare`` (:mod:`~alpr.connectors.camera.lighting`). The ground truth
stays the registration only.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import cv2
import numpy as np

from alpr.records import Frame

from .lighting import LitPlate, apply_lighting, check_mode, scene_lights
from .optics import degrade, draw_plate
from .plates import STATES, display_text, normalize_plate, random_plate, render_plate
from .scene import CAR_COLORS, CarSprite, render_background, render_car
from .truth import GROUND_TRUTH_FILE, FrameTruth, GroundTruth, VehicleSpec, load_ground_truth, write_clip
from .us_designs import FEATURES, PlateDesign, random_design
from .us_scenes import Distractor, add_bumper_sticker, add_scene_distractors

__all__ = [
    "STATES", "VehicleSpec", "FrameTruth", "GroundTruth", "SyntheticCamera",
    "render_plate", "random_plate", "display_text", "write_clip", "load_ground_truth",
    "plate_width_for_lane", "GROUND_TRUTH_FILE",
]


def plate_width_for_lane(lane_y: float, width: int, height: int) -> int:
    """Plate width in px for a plate centred on row ``lane_y``: ~120 px (far, 0.35 H) to
    ~250 px (near, 0.9 H) at 1280x720, scaled with the frame width."""
    frac = float(np.clip((lane_y - 0.35 * height) / (0.55 * height), 0.0, 1.0))
    return max(24, int(round((0.094 + 0.1 * frac) * width)))


@dataclass
class _Vehicle:
    vid: int
    spec: VehicleSpec
    plate_w: int
    plate_h: int
    car_w: int
    car_h: int
    plate_cx: float  # in sprite coordinates
    plate_cy: float
    first_seq: int
    last_seq: int
    sprite: Optional[CarSprite] = None
    plate_img: Optional[np.ndarray] = None
    design: Optional[PlateDesign] = None
    bumper: Optional[Distractor] = None

    def car_left(self, t: float, frame_w: int) -> float:
        v = self.spec.speed_px_s
        dt = t - self.spec.enter_ts
        return dt * v - self.car_w if v > 0 else frame_w + dt * v

    def exit_ts(self, frame_w: int) -> float:
        return self.spec.enter_ts + (frame_w + self.car_w) / abs(self.spec.speed_px_s)


@dataclass
class _Placement:
    vehicle: _Vehicle
    left: int  # sprite top-left in the frame
    top: int
    corners: np.ndarray  # (4, 2) float32, TL TR BR BL
    visible: bool = True


class SyntheticCamera:
    """Deterministic synthetic ALPR camera (see the module docstring).

    ``vehicles`` replaces the generated traffic; otherwise ``n_vehicles`` passages are
    generated from ``seed`` with plates from ``states`` (default: all of :data:`STATES`).
    The clip lasts until the last vehicle has left plus ``tail_s`` (or ``duration_s``).

    ``us_hard``: ``True`` draws each hard feature of :data:`~alpr.connectors.camera.us_designs.FEATURES`
    at random per vehicle (and distractor signs in the scene); a collection of feature names
    puts exactly those on every vehicle. ``designs`` (one per vehicle, ``None`` for a plain
    plate) replaces the random designs. ``lighting``: ``day``, ``night``, ``ir`` or ``glare``.
    """

    def __init__(
        self,
        camera_id: str,
        agency: str,
        vehicles: Sequence[VehicleSpec] | None = None,
        n_vehicles: int = 5,
        seed: int = 0,
        fps: float = 5.0,
        width: int = 1280,
        height: int = 720,
        start_ts: float = 1_767_225_600.0,
        jpeg_quality: int = 85,
        noise: bool = True,
        *,
        noise_level: float = 1.0,
        gap_s: float = 6.0,
        lead_in_s: float = 0.5,
        tail_s: float = 1.0,
        duration_s: float | None = None,
        states: Sequence[str] | None = None,
        us_hard: bool | Iterable[str] = False,
        designs: Sequence[PlateDesign | None] | None = None,
        lighting: str = "day",
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if width < 160 or height < 120:
            raise ValueError(f"frame {width}x{height} too small (min 160x120)")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {jpeg_quality}")
        if noise_level < 0:
            raise ValueError(f"noise_level must be >= 0, got {noise_level}")
        if gap_s < 0:
            raise ValueError(f"gap_s must be >= 0, got {gap_s}")
        if n_vehicles < 0:
            raise ValueError(f"n_vehicles must be >= 0, got {n_vehicles}")
        self.camera_id = camera_id
        self.agency = agency
        self.seed = int(seed)
        self.fps = float(fps)
        self.width = int(width)
        self.height = int(height)
        self.start_ts = float(start_ts)
        self.jpeg_quality = int(jpeg_quality)
        self.noise_level = float(noise_level) if noise else 0.0
        self.gap_s = float(gap_s)
        self.states = tuple(s.upper() for s in (states or sorted(STATES)))
        for s in self.states:
            if s not in STATES:
                raise ValueError(f"unknown plate state {s!r}; known: {', '.join(sorted(STATES))}")
        self.lighting = check_mode(lighting)
        always = not isinstance(us_hard, bool)
        self.us_features = frozenset(FEATURES if us_hard is True else (us_hard or ()))
        specs = list(vehicles) if vehicles is not None else self._generate(n_vehicles, lead_in_s)
        self._vehicles = [self._prepare(i, s) for i, s in enumerate(specs)]
        if designs is not None and len(designs) != len(self._vehicles):
            raise ValueError(f"designs: {len(designs)} given for {len(self._vehicles)} vehicles")
        for v in self._vehicles:
            if designs is not None:
                v.design = designs[v.vid]
            elif self.us_features:
                v.design = random_design(v.spec.plate, v.spec.state, np.random.default_rng([self.seed, 9, v.vid]),
                                         self.us_features, always=always)
        self._distractors: list[Distractor] = []
        if duration_s is not None:
            duration = float(duration_s)
        else:
            duration = max((v.exit_ts(self.width) for v in self._vehicles), default=lead_in_s) + tail_s
        self.n_frames = max(1, int(math.ceil(duration * self.fps)))
        for v in self._vehicles:
            v.last_seq = min(v.last_seq, self.n_frames - 1)
        self._by_first = sorted(range(len(self._vehicles)), key=lambda i: self._vehicles[i].first_seq)
        self._firsts = [self._vehicles[i].first_seq for i in self._by_first]
        self._max_span = max((v.last_seq - v.first_seq for v in self._vehicles), default=0)
        self._background: Optional[np.ndarray] = None
        self._noise: Optional[tuple[np.ndarray, np.ndarray]] = None

    # ----------------------------------------------------------------- traffic
    def _generate(self, n: int, lead_in_s: float) -> list[VehicleSpec]:
        g = np.random.default_rng([self.seed, 1])
        W, H = self.width, self.height
        out, t = [], lead_in_s
        for _ in range(n):
            state = self.states[int(g.integers(len(self.states)))]
            plate = random_plate(state, g)
            lane_y = int(g.uniform(0.40, 0.82) * H)
            pw = plate_width_for_lane(lane_y, W, H)
            # plate fully in view for 1.8-2.8 s: 9-14 frames at 5 fps
            speed = (W - pw) / float(g.uniform(1.8, 2.8))
            if g.random() < 0.5:
                speed = -speed
            color = CAR_COLORS[int(g.integers(len(CAR_COLORS)))]
            spec = VehicleSpec(plate, state, round(t, 3), round(speed, 3), lane_y, tuple(color))
            out.append(spec)
            car_w = int(round(pw * 3.4))
            t = spec.enter_ts + (W + car_w) / abs(spec.speed_px_s) + self.gap_s + float(g.uniform(0.0, 1.0))
        return out

    def _prepare(self, vid: int, spec: VehicleSpec) -> _Vehicle:
        if spec.state.upper() not in STATES:
            raise ValueError(f"vehicle {vid}: unknown state {spec.state!r}; known: {', '.join(sorted(STATES))}")
        if normalize_plate(spec.plate) != spec.plate:
            raise ValueError(f"vehicle {vid}: plate {spec.plate!r} must be A-Z/0-9 without gaps")
        if spec.speed_px_s == 0:
            raise ValueError(f"vehicle {vid}: speed_px_s must be non-zero")
        pw = plate_width_for_lane(spec.lane_y, self.width, self.height)
        ph = pw // 2
        if not ph <= spec.lane_y <= self.height - ph:
            raise ValueError(f"vehicle {vid}: lane_y {spec.lane_y} puts the plate outside a {self.height}px frame")
        car_w = int(round(pw * 3.4))
        car_h = int(round(car_w * 0.78))
        v = _Vehicle(vid, spec, pw, ph, car_w, car_h, car_w / 2.0, 0.69 * car_h, 0, 0)
        t_out = v.exit_ts(self.width)
        v.first_seq = max(0, int(math.floor(spec.enter_ts * self.fps)))
        v.last_seq = int(math.ceil(t_out * self.fps))
        return v

    @property
    def vehicles(self) -> list[VehicleSpec]:
        return [v.spec for v in self._vehicles]

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def capture_ts(self, seq: int) -> float:
        return self.start_ts + seq / self.fps

    # ---------------------------------------------------------------- geometry
    def _active(self, seq: int) -> list[_Vehicle]:
        lo = bisect.bisect_left(self._firsts, seq - self._max_span)
        hi = bisect.bisect_right(self._firsts, seq)
        return [self._vehicles[self._by_first[k]] for k in range(lo, hi)
                if self._vehicles[self._by_first[k]].first_seq <= seq <= self._vehicles[self._by_first[k]].last_seq]

    def _layout(self, seq: int) -> list[_Placement]:
        t = seq / self.fps
        W, H = self.width, self.height
        lvl = self.noise_level
        out: list[_Placement] = []
        for v in sorted(self._active(seq), key=lambda v: (v.spec.lane_y, v.vid)):  # far lanes first
            left = v.car_left(t, W)
            if left >= W or left + v.car_w <= 0:
                continue
            top = v.spec.lane_y - v.plate_cy
            cx, cy = left + v.plate_cx, float(v.spec.lane_y)
            pw, ph = v.plate_w, v.plate_h
            base = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]], np.float64)
            g = np.random.default_rng([self.seed, 3, v.vid, seq])
            ang = math.radians(g.uniform(-2.0, 2.0) * lvl)
            rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
            pts = base @ rot.T
            # perspective: one side slightly taller (yaw) plus per-corner jitter
            yaw = g.uniform(-0.05, 0.05) * lvl * ph
            pts[:, 1] += np.array([1.0, -1.0, 1.0, -1.0]) * yaw / 2
            pts += g.uniform(-0.025, 0.025, (4, 2)) * lvl * np.array([pw, ph])
            pts += (cx, cy + g.uniform(-1.0, 1.0) * lvl)
            out.append(_Placement(v, int(round(left)), int(round(top)), pts.astype(np.float32)))
        # visibility: whole plate inside the image and not covered by a vehicle drawn later
        for i, p in enumerate(out):
            xs, ys = p.corners[:, 0], p.corners[:, 1]
            inside = xs.min() >= 0 and ys.min() >= 0 and xs.max() <= W - 1 and ys.max() <= H - 1
            covered = any(
                q.left < xs.max() and q.left + q.vehicle.car_w > xs.min()
                and q.top < ys.max() and q.top + q.vehicle.car_h > ys.min()
                for q in out[i + 1:]
            )
            p.visible = bool(inside and not covered)
        return out

    def ground_truth(self) -> list[FrameTruth]:
        """Every fully visible plate in every frame, in frame order."""
        out = []
        for seq in range(self.n_frames):
            ts = self.capture_ts(seq)
            for p in self._layout(seq):
                if p.visible:
                    corners = tuple((round(float(x), 2), round(float(y), 2)) for x, y in p.corners)
                    out.append(FrameTruth(seq, ts, p.vehicle.vid, p.vehicle.spec.plate,
                                          p.vehicle.spec.state, corners))  # type: ignore[arg-type]
        return out

    # --------------------------------------------------------------- rendering
    def _ensure_assets(self, v: _Vehicle) -> None:
        if v.sprite is None:
            v.sprite = render_car(v.plate_w, v.plate_h, v.spec.color)
            big = render_plate(v.spec.plate, v.spec.state, np.random.default_rng([self.seed, 2, v.vid]),
                               design=v.design)
            if v.design is not None and v.design.bumper_text:
                v.sprite, v.bumper = add_bumper_sticker(v.sprite, v.design.bumper_text, v.design.bumper_side,
                                                        np.random.default_rng([self.seed, 11, v.vid]))
            v.plate_img = cv2.resize(big, (v.plate_w, v.plate_h), interpolation=cv2.INTER_AREA)

    def _ensure_scene(self) -> None:
        if self._background is None:
            self._background = render_background(self.width, self.height, np.random.default_rng([self.seed, 4]))
            if "distractors" in self.us_features:
                self._distractors = add_scene_distractors(self._background, np.random.default_rng([self.seed, 10]))
        if self._noise is None and self.noise_level > 0:
            g = np.random.default_rng([self.seed, 5])
            sigma = 3.0 * self.noise_level
            n = g.normal(0.0, sigma, (self.height + 32, self.width + 32, 3)).astype(np.float32)
            self._noise = (np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))

    def render(self, seq: int) -> np.ndarray:
        """Frame ``seq`` as a BGR uint8 array (``height x width x 3``), before JPEG."""
        if not 0 <= seq < self.n_frames:
            raise IndexError(f"frame {seq} outside 0..{self.n_frames - 1}")
        self._ensure_scene()
        assert self._background is not None
        frame = self._background.copy()
        W, H = self.width, self.height
        lvl = self.noise_level
        g = np.random.default_rng([self.seed, 6, seq])
        drawn: list[_Placement] = []
        for p in self._layout(seq):
            v = p.vehicle
            self._ensure_assets(v)
            assert v.sprite is not None and v.plate_img is not None
            x0, y0 = max(0, p.left), max(0, p.top)
            x1, y1 = min(W, p.left + v.car_w), min(H, p.top + v.car_h)
            if x0 >= x1 or y0 >= y1:
                continue
            sx, sy = x0 - p.left, y0 - p.top
            roi = frame[y0:y1, x0:x1]
            cv2.copyTo(v.sprite.image[sy: sy + (y1 - y0), sx: sx + (x1 - x0)],
                       v.sprite.mask[sy: sy + (y1 - y0), sx: sx + (x1 - x0)], roi)
            draw_plate(frame, v.plate_img, p.corners)
            drawn.append(p)
            if lvl > 0:
                degrade(frame, roi, p.corners, g, lvl)
        if lvl > 0:
            alpha = 1.0 + g.uniform(-0.12, 0.12) * lvl
            beta = g.uniform(-25.0, 18.0) * lvl
            cv2.addWeighted(frame, alpha, frame, 0.0, beta, dst=frame)  # saturating
            assert self._noise is not None
            ox, oy = int(g.integers(32)), int(g.integers(32))
            pos, neg = self._noise
            cv2.add(frame, pos[oy: oy + H, ox: ox + W], dst=frame)
            cv2.subtract(frame, neg[oy: oy + H, ox: ox + W], dst=frame)
        if self.lighting != "day":
            lights = scene_lights(W, H, np.random.default_rng([self.seed, 12]),
                                  [(p.left, p.top, p.vehicle.car_w, p.vehicle.car_h) for p in drawn])
            apply_lighting(frame, self.lighting, [LitPlate(p.vehicle.vid, p.corners) for p in drawn],
                           np.random.default_rng([self.seed, 7, seq]), seed=self.seed, lights=lights,
                           reflective=[d.polygon() for d in self._distractors if d.kind == "road"])
        return frame

    @property
    def designs(self) -> list[Optional[PlateDesign]]:
        """Each vehicle's plate design (``None``: the plain plate)."""
        return [v.design for v in self._vehicles]

    @property
    def distractors(self) -> list[Distractor]:
        """The signs painted into the scene (empty unless ``us_hard`` has ``distractors``)."""
        self._ensure_scene()
        return list(self._distractors)

    def encode(self, image: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR image
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()

    def frame(self, seq: int) -> Frame:
        """Frame ``seq`` as a :class:`Frame` (JPEG bytes)."""
        return Frame(camera_id=self.camera_id, agency=self.agency, seq=seq,
                     capture_ts=self.capture_ts(seq), data=self.encode(self.render(seq)), source="synthetic")

    def frames(self) -> Iterator[Frame]:
        """All frames, seq 0..n_frames-1, capture_ts = start_ts + seq / fps."""
        for seq in range(self.n_frames):
            yield self.frame(seq)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def __len__(self) -> int:
        return self.n_frames

    def metadata(self) -> dict:
        return {"camera_id": self.camera_id, "agency": self.agency, "fps": self.fps, "start_ts": self.start_ts,
                "width": self.width, "height": self.height, "n_frames": self.n_frames, "seed": self.seed,
                "noise_level": self.noise_level, "gap_s": self.gap_s, "jpeg_quality": self.jpeg_quality,
                **({"us_hard": sorted(self.us_features)} if self.us_features else {}),
                **({"lighting": self.lighting} if self.lighting != "day" else {})}
