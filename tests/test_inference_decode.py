"""decode_image / validate_image: clear errors for bad frames (the pipeline dead-letters them)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from alpr.inference.recognizer import FrameDecodeError, decode_image, validate_image


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def test_decode_roundtrip_jpeg_and_png():
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, 30:] = (0, 0, 255)
    out = decode_image(_png(img))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert np.array_equal(out, img)
    ok, jpg = cv2.imencode(".jpg", img)
    assert decode_image(jpg.tobytes()).shape == (40, 60, 3)


def test_decode_grey_png_gives_bgr():
    assert decode_image(_png(np.full((20, 30), 77, np.uint8))).shape == (20, 30, 3)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"not an image at all", "cannot decode"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "cannot decode"),  # a JPEG header, nothing else
    ],
)
def test_decode_rejects_bad_bytes(data, message):
    with pytest.raises(FrameDecodeError, match=message):
        decode_image(data)


def test_decode_rejects_truncated_png():
    data = _png(np.full((50, 50, 3), 128, np.uint8))
    with pytest.raises(FrameDecodeError):
        decode_image(data[: len(data) // 3])


def test_decode_rejects_absurd_and_tiny_dimensions():
    with pytest.raises(FrameDecodeError, match="8192"):
        decode_image(_png(np.zeros((4, 9000), np.uint8)))
    with pytest.raises(FrameDecodeError, match="smaller"):
        decode_image(_png(np.zeros((3, 3, 3), np.uint8)))


def test_decode_error_is_a_value_error_and_rejects_non_bytes():
    assert issubclass(FrameDecodeError, ValueError)
    with pytest.raises(FrameDecodeError, match="bytes"):
        decode_image("a string")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((50, 50, 3), np.float32), "uint8"),
        (np.zeros((50, 50, 2), np.uint8), "shape"),
        (np.zeros((0, 50, 3), np.uint8), "px"),
        (np.zeros((2, 50, 3), np.uint8), "px"),
        ([[0, 1], [2, 3]], "numpy"),
    ],
)
def test_validate_image_rejects(image, message):
    with pytest.raises(ValueError, match=message):
        validate_image(image)


def test_validate_image_accepts_grey_and_bgra():
    assert validate_image(np.zeros((20, 30), np.uint8)).shape == (20, 30, 3)
    assert validate_image(np.zeros((20, 30, 4), np.uint8)).shape == (20, 30, 3)
