"""Decode stage: encoded frame bytes -> BGR image, or a dead letter (corrupt, empty,
oversized, decompression bomb) carrying the frame bytes so it can be replayed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np

from alpr.inference.recognizer import FrameDecodeError, decode_image
from alpr.observability import metrics as obs
from alpr.records import DeadLetter, Frame

from .deadletters import dead_letter


@dataclass(frozen=True)
class DecodedFrame:
    """A frame (bytes kept: a failed recognition dead-letters them) and its decoded image."""

    frame: Frame
    image: np.ndarray = field(repr=False)


def decode(frame: Frame) -> Union[DecodedFrame, DeadLetter]:
    obs.observe_frame(frame.camera_id, frame.agency, frame.capture_ts)
    try:
        image = decode_image(frame.data)
    except FrameDecodeError as exc:
        obs.observe_decode_failure(frame.camera_id, frame.agency)
        return dead_letter("decode", str(exc), frame.frame_id, frame.data,
                           detail=f"camera={frame.camera_id} seq={frame.seq} bytes={len(frame.data)}")
    obs.observe_decoded(frame.camera_id, frame.agency)
    return DecodedFrame(frame, image)
