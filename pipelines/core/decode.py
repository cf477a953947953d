"""Decode stage: encoded frame bytes -> BGR image, or a dead letter (corrupt, empty,
oversized, decompression bomb) carrying the frame bytes so it can be replayed.

With ``pixels=False`` (inference ``triton+frames://``: the server decodes) only the checks made
before any pixel is decoded run here; the image stays ``None`` and a frame the server cannot
decode is dead-lettered by the recognize stage, with stage ``decode``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from alpr.inference.images import check_encoded
from alpr.inference.recognizer import FrameDecodeError, decode_image
from alpr.observability import metrics as obs
from alpr.records import DeadLetter, Frame

from .deadletters import dead_letter


@dataclass(frozen=True)
class DecodedFrame:
    """A frame (bytes kept: a failed recognition dead-letters them) and its decoded image
    (``None`` when the inference server decodes it)."""

    frame: Frame
    image: Optional[np.ndarray] = field(repr=False)


def decode(frame: Frame, pixels: bool = True) -> Union[DecodedFrame, DeadLetter]:
    obs.observe_frame(frame.camera_id, frame.agency, frame.capture_ts)
    try:
        image = decode_image(frame.data) if pixels else check_encoded(frame.data)
    except FrameDecodeError as exc:
        obs.observe_decode_failure(frame.camera_id, frame.agency)
        return dead_letter("decode", str(exc), frame.frame_id, frame.data,
                           detail=f"camera={frame.camera_id} seq={frame.seq} bytes={len(frame.data)}")
    if pixels:  # otherwise counted when the server has decoded it
        obs.observe_decoded(frame.camera_id, frame.agency)
    return DecodedFrame(frame, image)
