"""Bounded frame sources: a folder of images, a video file, or the synthetic camera.

Every source satisfies :class:`FrameSource` (``camera_id``, ``agency`` and iteration
yielding :class:`alpr.records.Frame`); :func:`open_source` picks one from a spec string.
Live streams (``rtsp://``) are not read here: they enter through the Kafka camera gateway.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Iterator, Optional, Protocol, runtime_checkable

import cv2

from alpr.config import Settings
from alpr.records import Frame

from .synthetic import GROUND_TRUTH_FILE, FrameTruth, SyntheticCamera

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".mjpeg", ".mjpg")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "srt://")


DEFAULT_CAMERA_ID = Settings.camera_id  # the setting's default: a clip's own id replaces it


class SourceError(OSError):
    """A frame source could not be opened or read."""


@runtime_checkable
class FrameSource(Protocol):
    """A bounded (or long-running) producer of camera frames."""

    camera_id: str
    agency: str

    def __iter__(self) -> Iterator[Frame]: ...


class FolderSource:
    """Images in a folder, in file-name order, as Frames (bytes passed through undecoded).

    ``capture_ts`` is ``start_ts + i / fps``. When ``start_ts`` is None it comes from a
    ``ground_truth.json`` written by :func:`~alpr.connectors.camera.synthetic.write_clip`
    in the folder (so a clip replays with its original timing; its fps is used when
    ``fps`` is None), else from each file's modification time. ``fps`` defaults to 5.0.
    Unreadable or corrupt files still become Frames (empty data when the file cannot be
    read) so the pipeline dead-letters them instead of losing them.
    """

    def __init__(self, path: str | os.PathLike, camera_id: str, agency: str,
                 fps: Optional[float] = None, start_ts: Optional[float] = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"image folder {self.path} does not exist")
        if not self.path.is_dir():
            raise NotADirectoryError(f"{self.path} is not a folder of images")
        self.camera_id = camera_id
        self.agency = agency
        clip_camera = self._clip_camera()
        if clip_camera and camera_id == DEFAULT_CAMERA_ID:  # a synthetic clip keeps its own camera id
            self.camera_id = clip_camera
        clip_fps, clip_start = self._clip_timing() if start_ts is None else (None, None)
        self.fps = float(fps if fps is not None else (clip_fps or 5.0))
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        self.start_ts = start_ts if start_ts is not None else clip_start
        self.files = sorted((p for p in self.path.iterdir()
                             if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS), key=lambda p: p.name)
        if not self.files:
            raise SourceError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {self.path}")

    def _clip_camera(self) -> Optional[str]:
        gt = self.path / GROUND_TRUTH_FILE
        try:
            return str(json.loads(gt.read_text())["camera_id"]) if gt.is_file() else None
        except (ValueError, KeyError, TypeError, OSError):
            return None

    def _clip_timing(self) -> tuple[Optional[float], Optional[float]]:
        gt = self.path / GROUND_TRUTH_FILE
        if not gt.is_file():
            return None, None
        try:
            doc = json.loads(gt.read_text())
            return float(doc["fps"]), float(doc["start_ts"])
        except (ValueError, KeyError, TypeError, OSError) as exc:
            log.warning("ignoring unreadable %s: %s", gt, exc)
            return None, None

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        for i, p in enumerate(self.files):
            try:
                data = p.read_bytes()
            except OSError as exc:
                log.warning("cannot read %s: %s; passing an empty frame on", p, exc)
                data = b""
            if self.start_ts is not None:
                ts = self.start_ts + i / self.fps
            else:
                try:
                    ts = p.stat().st_mtime
                except OSError:
                    ts = 0.0
            yield Frame(camera_id=self.camera_id, agency=self.agency, seq=i, capture_ts=float(ts),
                        data=data, source=f"folder:{p.name}")


class VideoFileSource:
    """Frames of a video file (OpenCV), re-encoded as JPEG.

    ``capture_ts`` is ``start_ts`` plus the frame's position in the video
    (``CAP_PROP_POS_MSEC``, falling back to index / fps); ``start_ts`` defaults to the
    file's modification time. ``seq`` is the frame's index in the video, so with
    ``every_nth=3`` the seqs are 0, 3, 6, ... ``max_frames`` bounds the frames yielded.
    """

    def __init__(self, path: str | os.PathLike, camera_id: str, agency: str, every_nth: int = 1,
                 max_frames: Optional[int] = None, start_ts: Optional[float] = None,
                 jpeg_quality: int = 90) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video file {self.path} does not exist")
        if every_nth < 1:
            raise ValueError(f"every_nth must be >= 1, got {every_nth}")
        if max_frames is not None and max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {max_frames}")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {jpeg_quality}")
        self.camera_id = camera_id
        self.agency = agency
        self.every_nth = int(every_nth)
        self.max_frames = max_frames
        self.jpeg_quality = int(jpeg_quality)
        self.start_ts = float(start_ts) if start_ts is not None else self.path.stat().st_mtime
        cap = self._open()
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video {self.path}: OpenCV has no decoder for it or it is corrupt")
        return cap

    def __iter__(self) -> Iterator[Frame]:
        cap = self._open()
        fps = self.fps if self.fps > 0 else 25.0
        try:
            index, emitted, last_ms = 0, 0, -1.0
            while self.max_frames is None or emitted < self.max_frames:
                if index % self.every_nth:
                    if not cap.grab():
                        break
                    index += 1
                    continue
                ok, image = cap.read()
                if not ok or image is None:
                    break
                pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)  # after read(): the frame just decoded
                ms = pos_ms if pos_ms > last_ms and (pos_ms > 0 or index == 0) else index * 1000.0 / fps
                last_ms = ms
                ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
                if not ok:  # pragma: no cover
                    raise SourceError(f"{self.path}: cannot JPEG-encode frame {index}")
                yield Frame(camera_id=self.camera_id, agency=self.agency, seq=index,
                            capture_ts=self.start_ts + ms / 1000.0, data=buf.tobytes(),
                            source=f"video:{self.path.name}")
                emitted += 1
                index += 1
        finally:
            cap.release()


class SyntheticSource:
    """:class:`SyntheticCamera` as a :class:`FrameSource` (keyword arguments pass through)."""

    def __init__(self, camera_id: str, agency: str, n_vehicles: int = 5, seed: int = 0, **kw) -> None:
        self.camera = SyntheticCamera(camera_id, agency, n_vehicles=n_vehicles, seed=seed, **kw)
        self.camera_id = camera_id
        self.agency = agency

    def __len__(self) -> int:
        return self.camera.n_frames

    def __iter__(self) -> Iterator[Frame]:
        return self.camera.frames()

    def ground_truth(self) -> list[FrameTruth]:
        return self.camera.ground_truth()


_SYNTH = re.compile(r"^synthetic(?::(\d+))?$")


def open_source(spec: str, camera_id: str, agency: str, **kw) -> FrameSource:
    """Resolve a source spec.

    ``synthetic`` / ``synthetic:N`` (N vehicles; ``kw`` go to :class:`SyntheticCamera`),
    a folder path (:class:`FolderSource`) or a video file path (:class:`VideoFileSource`).
    Stream URLs such as ``rtsp://`` raise ``NotImplementedError``: live cameras are
    ingested by the Kafka camera gateway, not read in-process.
    """
    s = str(spec).strip()
    if not s:
        raise ValueError("empty source spec; use synthetic:N, a folder of images or a video file")
    m = _SYNTH.match(s)
    if m:
        if m.group(1) is not None:
            kw.setdefault("n_vehicles", int(m.group(1)))
        return SyntheticSource(camera_id, agency, **kw)
    if s.lower().startswith("synthetic"):
        raise ValueError(f"bad synthetic source {s!r}; expected synthetic or synthetic:N (N vehicles)")
    if s.lower().startswith(STREAM_SCHEMES):
        raise NotImplementedError(
            f"live stream {s!r} is not read in-process; publish it through the Kafka camera gateway "
            "(camera gateway -> Kafka frames topic) and run the pipeline on that topic"
        )
    p = Path(s).expanduser()
    if p.is_dir():
        return FolderSource(p, camera_id, agency, **kw)
    if p.is_file():
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            raise ValueError(f"{p} is a single image; point the source at its folder")
        return VideoFileSource(p, camera_id, agency, **kw)
    raise FileNotFoundError(
        f"source {s!r} not found; expected synthetic:N, an existing folder of images or a video file"
    )
