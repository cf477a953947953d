"""Frame bytes and arrays as the recogniser accepts them: decoding with a size check before any
pixel is allocated (decompression bombs), and validation of in-memory images."""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np

MAX_SIDE = 8192
MIN_SIDE = 8



class FrameDecodeError(ValueError):
    """Encoded frame bytes are empty, corrupt, undecodable or of absurd dimensions."""


def decode_image(data: bytes, max_side: int = MAX_SIDE) -> np.ndarray:
    """Decode JPEG/PNG/... bytes into a BGR ``uint8`` image, or raise :class:`FrameDecodeError`."""
    check_encoded(data, max_side)
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise FrameDecodeError(f"cannot decode frame ({len(data)} bytes): {exc}") from exc
    if img is None or img.size == 0:
        raise FrameDecodeError(
            f"cannot decode frame: {len(data)} bytes are not a supported image "
            f"(starts with {bytes(data[:8]).hex()})"
        )
    h, w = img.shape[:2]
    if h > max_side or w > max_side:
        raise FrameDecodeError(f"frame is {w}x{h} px, larger than the {max_side} px limit per side")
    if h < MIN_SIDE or w < MIN_SIDE:
        raise FrameDecodeError(f"frame is {w}x{h} px, smaller than {MIN_SIDE} px per side")
    return img


def check_encoded(data: bytes, max_side: int = MAX_SIDE) -> None:
    """The checks :func:`decode_image` makes before decoding any pixel (bytes, not empty, no
    header declaring more than ``max_side`` px per side); raise :class:`FrameDecodeError`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FrameDecodeError(f"frame data must be bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise FrameDecodeError("frame data is empty")
    declared = _declared_size(bytes(data))
    if declared is not None and (declared[0] > max_side or declared[1] > max_side):
        # refuse before decoding: a few hundred bytes claiming 30000x30000 px would otherwise
        # make the decoder allocate gigabytes (decompression bomb)
        raise FrameDecodeError(f"frame header declares {declared[0]}x{declared[1]} px, larger than the "
                               f"{max_side} px limit per side")


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height the image header declares (read without decoding pixels), or None when
    the header is not one Pillow can parse (OpenCV then decides)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError as exc:  # over Pillow's pixel ceiling: far above any side limit
        raise FrameDecodeError(f"frame header declares an oversized image: {exc}") from None
    except Exception:  # noqa: BLE001 - unparseable header: leave the verdict to cv2.imdecode
        return None


def validate_image(image: np.ndarray) -> np.ndarray:
    """Return a contiguous BGR uint8 HxWx3 view of ``image`` or raise ``ValueError``."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be HxW, HxWx3 (BGR) or HxWx4, got shape {image.shape}")
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    h, w = image.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"image is {w}x{h} px; at least {MIN_SIDE} px per side are needed")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise ValueError(f"image is {w}x{h} px; at most {MAX_SIDE} px per side are supported")
    return np.ascontiguousarray(image)
