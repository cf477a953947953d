"""Per-camera health on the embedded path, with a bounded number of Prometheus series.

An agency runs thousands of cameras. One ``camera`` label on every metric would make 10,000
series per family (and more in Prometheus' index as cameras come and go), so:

* the high-volume counters (frames, decoded, decode failures, reads, groups) carry the
  ``agency`` label only (:mod:`alpr.observability.metrics`);
* this module keeps one small in-process record per camera (:class:`CameraTable`): frames,
  decoded, decode failures, reads, groups, the wall-clock time of its last frame and its newest
  capture time. It is LRU-bounded (``ALPR_METRICS_MAX_CAMERAS``, default 100,000);
* at scrape time :class:`CameraCollector` turns it into per-agency series
  (``alpr_cameras_seen``, ``alpr_cameras_silent``, ``alpr_cameras_expected``,
  ``alpr_cameras_offline``, ``alpr_camera_max_clock_skew_seconds``) plus one bounded top-k:
  ``alpr_silent_camera_last_frame_timestamp_seconds{camera, agency}`` for at most
  ``ALPR_METRICS_TOP_CAMERAS`` (default 10) cameras silent longest, and only those silent for
  longer than the offline threshold (so healthy cameras never churn through the label);
* the full per-camera detail is :func:`health_records`: ``CameraHealth/1`` records, the same
  schema as the Flink job's health topic (``--health-topic``), served as JSON on
  ``GET /cameras`` of the metrics port (:mod:`alpr.observability.server`).
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from collections import OrderedDict
from typing import Optional, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

SCHEMA = "CameraHealth/1"
MAX_AGENCIES = 256  # agency label values; anything past this counts as "other"
COUNTS = ("frames", "decoded", "decode_failures", "reads", "groups", "groups_unconfirmed")


def _env_int(name: str, default: int, low: int) -> int:
    try:
        return max(low, int(os.environ.get(name, default)))
    except ValueError:
        return default


class _Camera:
    __slots__ = ("agency", "last_frame", "last_capture", "first_seen", *COUNTS)

    def __init__(self, agency: str, now: float):
        self.agency, self.first_seen = agency, now
        self.last_frame = self.last_capture = 0.0
        for k in COUNTS:
            setattr(self, k, 0)


class CameraTable:
    """Camera id -> small health record; the least recently heard camera is dropped past
    ``max_cameras`` (expected cameras stay listed through the expected list)."""

    def __init__(self, max_cameras: Optional[int] = None, top_k: Optional[int] = None):
        self.lock = threading.Lock()
        self.cams: OrderedDict[str, _Camera] = OrderedDict()
        self.expected: dict[str, str] = {}       # camera -> agency
        self.offline_after_s = 300.0
        self.max_cameras = max_cameras or _env_int("ALPR_METRICS_MAX_CAMERAS", 100_000, 1)
        self.top_k = top_k if top_k is not None else _env_int("ALPR_METRICS_TOP_CAMERAS", 10, 0)
        self.evicted = 0

    def _get(self, camera: str, agency: str, now: float) -> _Camera:
        cam = self.cams.get(camera)
        if cam is None:
            cam = self.cams[camera] = _Camera(agency, now)
            if len(self.cams) > self.max_cameras:
                self.cams.popitem(last=False)
                self.evicted += 1
        elif agency and agency != cam.agency:
            cam.agency = agency
        return cam

    def frame(self, camera: str, agency: str, capture_ts: float, now: float) -> None:
        with self.lock:
            cam = self._get(camera, agency, now)
            cam.frames += 1
            cam.last_frame = max(cam.last_frame, now)
            cam.last_capture = max(cam.last_capture, float(capture_ts))
            self.cams.move_to_end(camera)

    def count(self, camera: str, agency: str, what: str, n: int = 1) -> None:
        with self.lock:
            cam = self._get(camera, agency, time.time())
            setattr(cam, what, getattr(cam, what) + n)

    def set_expected(self, mapping: dict[str, str], offline_after_s: float) -> None:
        with self.lock:
            self.expected = dict(mapping)
            self.offline_after_s = float(offline_after_s)

    # ------------------------------------------------------------------ views
    def snapshot(self):
        with self.lock:
            return ([(c, cam.agency, cam.last_frame, cam.last_capture) for c, cam in self.cams.items()],
                    dict(self.expected), self.offline_after_s, self.top_k)

    def records(self, now: Optional[float] = None) -> list[dict]:
        """Every known or expected camera as a ``CameraHealth/1`` record (no plates)."""
        now = time.time() if now is None else now
        out = []
        with self.lock:
            limit = self.offline_after_s
            for camera, cam in self.cams.items():
                silent = now - cam.last_frame if cam.last_frame else None
                rec = {"schema": SCHEMA, "camera_id": camera, "agency": cam.agency,
                       "expected": camera in self.expected,
                       "status": "no_frame" if silent is None else "silent" if silent > limit else "ok",
                       "last_frame_ts": cam.last_frame or None, "last_capture_ts": cam.last_capture or None,
                       "silent_s": None if silent is None else round(silent, 3),
                       "lag_s": round(now - cam.last_capture, 3) if cam.last_capture else None,
                       "first_seen_ts": cam.first_seen, "emitted_ts": now}
                rec.update({k: getattr(cam, k) for k in COUNTS})
                out.append(rec)
            for camera, agency in self.expected.items():
                if camera not in self.cams:
                    out.append({"schema": SCHEMA, "camera_id": camera, "agency": agency, "expected": True,
                                "status": "never_seen", "last_frame_ts": None, "last_capture_ts": None,
                                "silent_s": None, "lag_s": None, "first_seen_ts": None, "emitted_ts": now,
                                **{k: 0 for k in COUNTS}})
        return out

    def clear(self) -> None:
        with self.lock:
            self.cams.clear()
            self.expected = {}
            self.evicted = 0


TABLE = CameraTable()
_AGENCIES: set[str] = set()
_AG_LOCK = threading.Lock()


def agency_label(agency: str) -> str:
    """The agency as a label value; past :data:`MAX_AGENCIES` distinct values, ``other``."""
    text = str(agency or "").strip()[:64] or "unknown"
    if text in _AGENCIES:
        return text
    with _AG_LOCK:
        if len(_AGENCIES) < MAX_AGENCIES:
            _AGENCIES.add(text)
            return text
    return "other"


def health_records(now: Optional[float] = None) -> list[dict]:
    return TABLE.records(now)


def set_expected_cameras(cameras: Sequence[str] | dict, offline_after_s: float = 300.0) -> None:
    """Cameras that should be sending (``camera`` or ``{camera: agency}``): ``alpr_cameras_offline``
    counts those with no frame for ``offline_after_s`` (or none at all) in this process."""
    if offline_after_s <= 0:
        raise ValueError(f"offline_after_s must be positive, got {offline_after_s}")
    mapping = dict(cameras) if isinstance(cameras, dict) else {c: "" for c in cameras}
    TABLE.set_expected({str(c).strip()[:64]: agency_label(a) if a else "unknown" for c, a in mapping.items()
                        if str(c).strip()}, offline_after_s)


def expected_cameras_from_env(env: Optional[dict] = None) -> None:
    """``ALPR_EXPECTED_CAMERAS=cam-1,cam-2`` (and ``ALPR_CAMERA_OFFLINE_AFTER_S``)."""
    env = os.environ if env is None else env
    cams = [c.strip() for c in env.get("ALPR_EXPECTED_CAMERAS", "").split(",") if c.strip()]
    if cams:
        set_expected_cameras(cams, float(env.get("ALPR_CAMERA_OFFLINE_AFTER_S", "300")))


FAMILIES = {
    "alpr_cameras_seen": ("Cameras this process has received frames from (bounded table).", ("agency",)),
    "alpr_cameras_silent": ("Cameras seen here with no frame for longer than the offline threshold.", ("agency",)),
    "alpr_cameras_expected": ("Cameras on the expected list (ALPR_EXPECTED_CAMERAS).", ("agency",)),
    "alpr_cameras_offline": ("Expected cameras with no frame within the offline threshold (or none yet).",
                             ("agency",)),
    "alpr_camera_max_clock_skew_seconds": ("Largest receipt-minus-capture time of a camera's newest frame.",
                                           ("agency",)),
    "alpr_silent_camera_last_frame_timestamp_seconds": (
        "Last frame time of the longest-silent cameras (top ALPR_METRICS_TOP_CAMERAS, silent ones only).",
        ("camera", "agency")),
}


class CameraCollector(Collector):
    """Computed at scrape time: a handful of series per agency plus at most ``top_k`` named
    cameras, however many cameras there are."""

    def __init__(self, table: CameraTable = TABLE):
        self.table = table

    def _families(self) -> dict[str, GaugeMetricFamily]:
        return {name: GaugeMetricFamily(name, doc, labels=list(labels)) for name, (doc, labels) in FAMILIES.items()}

    def collect(self):
        now = time.time()
        seen, expected, limit, top_k = self.table.snapshot()
        fams = self._families()
        per: dict[str, dict[str, float]] = {}
        last_by_cam = {}
        silent = []
        for camera, agency, last_frame, last_capture in seen:
            last_by_cam[camera] = (last_frame, agency)
            if not last_frame:
                continue  # counted before its first frame (no frame yet)
            a = per.setdefault(agency, {"seen": 0, "silent": 0, "skew": 0.0})
            a["seen"] += 1
            if now - last_frame > limit:
                a["silent"] += 1
                silent.append((last_frame, camera, agency))
            if last_capture:
                a["skew"] = max(a["skew"], abs(last_frame - last_capture))
        for agency, a in sorted(per.items()):
            fams["alpr_cameras_seen"].add_metric([agency], a["seen"])
            fams["alpr_cameras_silent"].add_metric([agency], a["silent"])
            fams["alpr_camera_max_clock_skew_seconds"].add_metric([agency], a["skew"])
        exp: dict[str, list[int]] = {}
        for camera, agency in expected.items():
            last, seen_agency = last_by_cam.get(camera, (0.0, ""))
            e = exp.setdefault(agency if agency != "unknown" else (seen_agency or agency), [0, 0])
            e[0] += 1
            e[1] += 1 if not last or now - last > limit else 0
        for agency, (n, off) in sorted(exp.items()):
            fams["alpr_cameras_expected"].add_metric([agency], n)
            fams["alpr_cameras_offline"].add_metric([agency], off)
        for last_frame, camera, agency in heapq.nsmallest(top_k, silent):
            fams["alpr_silent_camera_last_frame_timestamp_seconds"].add_metric([camera, agency], last_frame)
        yield from fams.values()

    def describe(self):
        return list(self._families().values())


COLLECTED_LABELS = {name: labels for name, (_, labels) in FAMILIES.items()}
