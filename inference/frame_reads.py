"""Encoded frames in, plates out: the contract of the Triton model ``plate_read`` and of every
frame recogniser (in-process or served).

The server side (``infra/triton/model_repository/plate_read``) calls :func:`read_frames` with the
frame bytes exactly as they came from Kafka; it decodes them (:func:`~.images.decode_image`, the
same size checks as the pipeline's decode stage), runs :class:`~.recognizer.PlateRecognizer` on the
frames that decoded, in one batch, and answers one JSON document per frame:

``{"width": W, "height": H, "plates": [{plate, confidence, coordinates, candidates, region,
region_confidence, detector, recognizer}, ...]}`` or, for a frame that could not be used,
``{"error": {"stage": "decode", "message": "..."}}``.

:func:`parse_frame_result` turns a document back into a :class:`FrameResult` whose plates are the
very :class:`~.selection.RecognizedPlate` values the in-process recogniser returns (floats survive
JSON exactly). A bad frame is an answer for that frame only, never an error for the batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence, runtime_checkable

from alpr.records import Candidate

from .images import FrameDecodeError, decode_image
from .selection import RecognizedPlate

#: model name, input and output tensor names of the served frame recogniser
MODEL = "plate_read"
INPUT = "frames"
OUTPUT = "reads"


@dataclass(frozen=True)
class FrameResult:
    """The plates of one encoded frame (best first) and its size, or why it has none."""

    plates: tuple[RecognizedPlate, ...] = ()
    width: int = 0
    height: int = 0
    error: Optional[str] = None  # set: the frame was not read (``error_stage`` says where)
    error_stage: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class FrameRecognizer(Protocol):
    """Reads plates from encoded frames (JPEG/PNG bytes), many per call."""

    def read_frames(self, frames: Sequence[bytes]) -> list[FrameResult]:
        """One :class:`FrameResult` per frame, in order. Raises only for the whole batch
        (the server is unreachable, the model failed); a bad frame is a result with ``error``."""
        ...


def plate_to_dict(p: RecognizedPlate) -> dict:
    return {"plate": p.plate, "confidence": float(p.confidence),
            "coordinates": [[float(x), float(y)] for x, y in p.coordinates],
            "candidates": [[c.plate, float(c.confidence)] for c in p.candidates],
            "region": p.region, "region_confidence": float(p.region_confidence),
            "detector": p.detector, "recognizer": p.recognizer}


def plate_from_dict(d: dict) -> RecognizedPlate:
    return RecognizedPlate(
        plate=str(d["plate"]), confidence=float(d["confidence"]),
        coordinates=tuple((float(x), float(y)) for x, y in d["coordinates"]),  # type: ignore[arg-type]
        candidates=tuple(Candidate(plate=str(c), confidence=float(s)) for c, s in d.get("candidates", [])),
        region=str(d.get("region", "")), region_confidence=float(d.get("region_confidence", 0.0)),
        detector=str(d.get("detector", "")), recognizer=str(d.get("recognizer", "")))


def result_json(plates: Sequence[RecognizedPlate], width: int, height: int) -> str:
    return json.dumps({"width": int(width), "height": int(height), "plates": [plate_to_dict(p) for p in plates]},
                      separators=(",", ":"))


def error_json(stage: str, message: str) -> str:
    return json.dumps({"error": {"stage": stage, "message": message}}, separators=(",", ":"))


def parse_frame_result(doc: bytes | str) -> FrameResult:
    """A frame's JSON answer -> :class:`FrameResult` (``ValueError`` when it is not one)."""
    try:
        d = json.loads(doc)
        if "error" in d:
            err = d["error"]
            return FrameResult(error=str(err.get("message", "unknown error")), error_stage=str(err.get("stage", "")))
        return FrameResult(tuple(plate_from_dict(p) for p in d["plates"]), int(d["width"]), int(d["height"]))
    except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a {MODEL} frame result: {exc}") from exc


def read_frames(recognizer, frames: Sequence[bytes]) -> list[str]:
    """Server side of :data:`MODEL`: decode each frame, recognise the good ones in one batch,
    one JSON document per frame (:func:`result_json` or :func:`error_json` with stage
    ``decode``). A recogniser failure propagates: it concerns the whole batch."""
    docs: list[Optional[str]] = [None] * len(frames)
    images, where = [], []
    for i, data in enumerate(frames):
        try:
            img = decode_image(data)
        except FrameDecodeError as exc:
            docs[i] = error_json("decode", str(exc))
            continue
        images.append(img)
        where.append(i)
    if images:
        for i, img, plates in zip(where, images, recognizer.recognize_batch(images)):
            docs[i] = result_json(plates, img.shape[1], img.shape[0])
    missing = sum(d is None for d in docs)
    if missing:
        raise RuntimeError(f"recogniser returned no result for {missing} frame(s)")
    return docs  # type: ignore[return-value]


@dataclass
class LocalFrameRecognizer:
    """:class:`FrameRecognizer` in process: :func:`read_frames` round-tripped through the same
    JSON as the server (a reference for tests and benchmarks)."""

    recognizer: object
    calls: list[int] = field(default_factory=list)

    def read_frames(self, frames: Sequence[bytes]) -> list[FrameResult]:
        self.calls.append(len(frames))
        return [parse_frame_result(d) for d in read_frames(self.recognizer, frames)]
