"""Frame sources: folders, video files, the synthetic source and ``open_source``."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from alpr.connectors.camera.sources import (
    FolderSource,
    FrameSource,
    SourceError,
    SyntheticSource,
    VideoFileSource,
    open_source,
)
from alpr.records import Frame


def _image(value: int, w: int = 64, h: int = 48) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    cv2.imwrite(str(d / "b_002.png"), _image(100))
    cv2.imwrite(str(d / "a_001.jpg"), _image(50))
    cv2.imwrite(str(d / "c_003.JPEG"), _image(150))
    cv2.imwrite(str(d / "d_004.bmp"), _image(200))
    (d / "e_005.jpg").write_bytes(b"this is not a jpeg")  # corrupt
    (d / "notes.txt").write_text("not an image")
    (d / "sub").mkdir()
    return d


def test_folder_source_orders_by_name_and_passes_bytes_through(folder):
    src = FolderSource(folder, "cam", "ag", fps=2.0, start_ts=1000.0)
    frames = list(src)
    names = ["a_001.jpg", "b_002.png", "c_003.JPEG", "d_004.bmp", "e_005.jpg"]
    assert len(src) == 5
    assert [f.source for f in frames] == [f"folder:{n}" for n in names]
    assert [f.seq for f in frames] == [0, 1, 2, 3, 4]
    assert [f.capture_ts for f in frames] == [1000.0, 1000.5, 1001.0, 1001.5, 1002.0]
    for f, n in zip(frames, names):
        assert f.data == (folder / n).read_bytes()
        assert (f.camera_id, f.agency) == ("cam", "ag")
    # decodable ones decode to what was written; the corrupt one is still a Frame
    means = [cv2.imdecode(np.frombuffer(f.data, np.uint8), cv2.IMREAD_GRAYSCALE).mean() for f in frames[:4]]
    assert means == pytest.approx([50, 100, 150, 200], abs=2)
    assert frames[4].data == b"this is not a jpeg"
    assert cv2.imdecode(np.frombuffer(frames[4].data, np.uint8), cv2.IMREAD_COLOR) is None


def test_folder_source_uses_mtime_without_start_ts(folder):
    for i, p in enumerate(sorted(folder.glob("*.*"))):
        os.utime(p, (5000.0 + i, 5000.0 + i))
    frames = list(FolderSource(folder, "cam", "ag"))
    by_name = {f.source.split(":", 1)[1]: f.capture_ts for f in frames}
    for p in folder.iterdir():
        if p.name in by_name:
            assert by_name[p.name] == pytest.approx(p.stat().st_mtime)


def test_folder_source_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        FolderSource(tmp_path / "missing", "c", "a")
    (tmp_path / "f.jpg").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        FolderSource(tmp_path / "f.jpg", "c", "a")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        FolderSource(empty, "c", "a")


@pytest.fixture()
def video(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    assert writer.isOpened()
    for i in range(12):
        writer.write(_image(i * 20, 320, 240))
    writer.release()
    return path


def test_video_file_source_reads_every_frame_with_video_timestamps(video):
    src = VideoFileSource(video, "cam", "ag", start_ts=2000.0)
    frames = list(src)
    assert [f.seq for f in frames] == list(range(12))
    assert [f.capture_ts for f in frames] == pytest.approx([2000.0 + i * 0.1 for i in range(12)])
    for i, f in enumerate(frames):
        assert f.data[:2] == b"\xff\xd8" and f.source == "video:clip.avi"
        img = cv2.imdecode(np.frombuffer(f.data, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (240, 320, 3)
        assert img.mean() == pytest.approx(i * 20, abs=4)


def test_video_file_source_every_nth_and_max_frames(video):
    frames = list(VideoFileSource(video, "cam", "ag", every_nth=3, start_ts=0.0))
    assert [f.seq for f in frames] == [0, 3, 6, 9]
    assert [f.capture_ts for f in frames] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    assert [f.seq for f in VideoFileSource(video, "cam", "ag", max_frames=2, start_ts=0.0)] == [0, 1]
    # iterating twice re-reads the file
    src = VideoFileSource(video, "cam", "ag", every_nth=5, start_ts=0.0)
    assert [f.seq for f in src] == [f.seq for f in src] == [0, 5, 10]


def test_video_file_source_errors(tmp_path, video):
    with pytest.raises(FileNotFoundError):
        VideoFileSource(tmp_path / "nope.mp4", "c", "a")
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(SourceError, match="cannot open video"):
        VideoFileSource(bad, "c", "a")
    with pytest.raises(ValueError, match="every_nth"):
        VideoFileSource(video, "c", "a", every_nth=0)


def test_synthetic_source_wraps_the_camera():
    src = SyntheticSource("cam", "ag", n_vehicles=1, seed=4, width=320, height=240)
    frames = list(src)
    assert len(frames) == len(src) == src.camera.n_frames
    assert all(isinstance(f, Frame) and f.source == "synthetic" for f in frames)
    assert {t.vehicle_id for t in src.ground_truth()} == {0}


def test_open_source_resolves_specs(folder, video):
    s = open_source("synthetic:3", "cam", "ag", seed=1, width=320, height=240)
    assert isinstance(s, SyntheticSource) and len(s.camera.vehicles) == 3
    assert len(open_source("synthetic", "cam", "ag").camera.vehicles) == 5
    f = open_source(str(folder), "cam", "ag", start_ts=0.0)
    assert isinstance(f, FolderSource) and len(f) == 5
    v = open_source(str(video), "cam", "ag", every_nth=2)
    assert isinstance(v, VideoFileSource) and [fr.seq for fr in v][:2] == [0, 2]
    for src in (s, f, v):
        assert isinstance(src, FrameSource)
        assert (src.camera_id, src.agency) == ("cam", "ag")


def test_open_source_errors(tmp_path, folder):
    with pytest.raises(NotImplementedError, match="Kafka camera gateway"):
        open_source("rtsp://10.0.0.5/stream1", "cam", "ag")
    with pytest.raises(ValueError, match="synthetic:N"):
        open_source("synthetic:many", "cam", "ag")
    with pytest.raises(FileNotFoundError, match="synthetic:N"):
        open_source(str(tmp_path / "missing"), "cam", "ag")
    with pytest.raises(ValueError, match="single image"):
        open_source(str(folder / "a_001.jpg"), "cam", "ag")
    with pytest.raises(ValueError):
        open_source("  ", "cam", "ag")
