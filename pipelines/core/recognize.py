"""Recognition stage: a batch of decoded frames -> plate reads, through one backend per
worker (in-process ONNX, or Triton with the whole batch in each request).

``inference: triton+frames://host:port`` sends the encoded frames themselves to Triton's
``plate_read`` (:class:`~alpr.inference.triton_frames.TritonFrameRecognizer`), several per
request: the server decodes and reads them, the decode stage only checks headers
(:meth:`RecognizeStage.decode`), and a frame the server cannot decode is dead-lettered alone,
with stage ``decode``.

A batch the backend keeps failing on (after ``retries`` more tries) dead-letters every frame
in it with the frame bytes and provenance, so it can be replayed; nothing is dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Optional, Sequence

from alpr.observability import metrics as obs
from alpr.records import DeadLetter, PlateRead, stable_id

from .deadletters import dead_letter
from .decode import DecodedFrame, decode

FRAMES_SCHEME = "triton+frames://"
SPECS = "'onnx', 'triton://host:port' or 'triton+frames://host:port'"

log = logging.getLogger(__name__)


class BackendFactory:
    """Picklable factory: ``onnx`` (in-process) or ``triton://host:port`` (``triton+frames://``
    needs no tensor backend: the stage builds a frame recogniser instead)."""

    def __init__(self, spec: str):
        if not (spec == "onnx" or spec.startswith(("triton://", FRAMES_SCHEME))):
            raise ValueError(f"inference must be {SPECS}, got {spec!r}")
        self.spec = spec

    def __call__(self):
        from alpr.observability.instrument import InstrumentedBackend

        if self.spec == "onnx":
            from alpr.inference.backends import OnnxBackend

            return InstrumentedBackend(OnnxBackend(intra_op_threads=1), "onnx")
        from alpr.inference.triton_backend import TritonBackend

        return InstrumentedBackend(TritonBackend(url=self.spec[len("triton://"):]), "triton")


def to_reads(frame, plates, width: int = 0, height: int = 0) -> list[PlateRead]:
    """The reads of one frame, with ids that are stable across replays."""
    return [PlateRead(
        read_id=stable_id("read", frame.frame_id, i, p.plate),
        frame_id=frame.frame_id, camera_id=frame.camera_id, agency=frame.agency,
        capture_ts=frame.capture_ts, plate=p.plate, confidence=float(p.confidence),
        coordinates=tuple((float(x), float(y)) for x, y in p.coordinates),
        candidates=tuple(p.candidates), img_width=int(width), img_height=int(height), seq=frame.seq)
        for i, p in enumerate(plates)]


class RecognizeStage:
    """``open()`` on the worker, then ``run(batch)`` per batch; ``close()`` at teardown."""

    def __init__(self, backend_spec: str = "onnx", topn: int = 10, retries: int = 1, backend_factory=None,
                 country: str = "auto", state: Optional[str] = None, fine_long_side: int = 1280):
        self.backend_spec = backend_spec
        self.topn = topn
        self.country, self.state = country, state
        self.fine_long_side = fine_long_side
        self.retries = retries
        self.backend_factory = backend_factory or BackendFactory(backend_spec)
        #: the inference server decodes the frames (``triton+frames://``)
        self.server_decodes = backend_spec.startswith(FRAMES_SCHEME)
        self._recognizer = None

    def decode(self, frame) -> "DecodedFrame | DeadLetter":
        """The decode stage as this stage needs it: pixels, or header checks only."""
        return decode(frame, pixels=not self.server_decodes)

    def open(self) -> "RecognizeStage":
        if self._recognizer is None and self.server_decodes:
            from alpr.inference.triton_frames import TritonFrameRecognizer

            self._recognizer = TritonFrameRecognizer(self.backend_spec[len(FRAMES_SCHEME):], topn=self.topn,
                                                     country=self.country, state=self.state,
                                                     fine_long_side=self.fine_long_side)
        elif self._recognizer is None:
            from alpr.inference.recognizer import PlateRecognizer

            self._recognizer = PlateRecognizer(self.backend_factory(), topn=self.topn, country=self.country,
                                               state=self.state, fine_long_side=self.fine_long_side)
        return self

    def close(self) -> None:
        rec, self._recognizer = self._recognizer, None
        close = getattr(rec if self.server_decodes else getattr(rec, "backend", None), "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # closing a broken connection must not fail teardown
                log.warning("inference backend close failed: %s", exc)

    def run(self, batch: Sequence[DecodedFrame]) -> tuple[list[PlateRead], list[DeadLetter]]:
        if not batch:
            return [], []
        self.open()
        if self.server_decodes:
            return self._run_frames(batch)
        images = [d.image for d in batch]
        error: Optional[BaseException] = None
        for attempt in range(self.retries + 1):
            try:
                results = self._recognizer.recognize_batch(images)
                break
            except Exception as exc:  # noqa: BLE001 - every failure dead-letters the batch
                error = exc
                if attempt < self.retries:
                    time.sleep(min(0.05 * 2 ** attempt, 1.0))
        else:
            obs.observe_failed_batch()
            return [], [self._dead(d, error) for d in batch]
        reads: list[PlateRead] = []
        for d, plates in zip(batch, results):
            h, w = d.image.shape[:2]
            obs.observe_reads(d.frame.camera_id, d.frame.agency, len(plates))
            reads += to_reads(d.frame, plates, w, h)
        return reads, []

    def _run_frames(self, batch: Sequence[DecodedFrame]) -> tuple[list[PlateRead], list[DeadLetter]]:
        """``triton+frames://``: the encoded frames to the server, plates or a per-frame error back."""
        error: Optional[BaseException] = None
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            try:
                results = self._recognizer.read_frames([d.frame.data for d in batch])
            except Exception as exc:  # noqa: BLE001 - every failure dead-letters the batch
                obs.observe_inference("triton", "read", len(batch), time.perf_counter() - t0, error=exc)
                error = exc
                if attempt < self.retries:
                    time.sleep(min(0.05 * 2 ** attempt, 1.0))
                continue
            obs.observe_inference("triton", "read", len(batch), time.perf_counter() - t0)
            break
        else:
            obs.observe_failed_batch()
            return [], [self._dead(d, error) for d in batch]
        reads: list[PlateRead] = []
        dead: list[DeadLetter] = []
        for d, res in zip(batch, results):
            f = d.frame
            if not res.ok:
                if res.error_stage == "decode":
                    obs.observe_decode_failure(f.camera_id, f.agency)
                dead.append(dead_letter(res.error_stage or "inference", str(res.error), f.frame_id, f.data,
                                        detail=f"camera={f.camera_id} seq={f.seq} bytes={len(f.data)} (server)"))
                continue
            obs.observe_decoded(f.camera_id, f.agency)
            obs.observe_reads(f.camera_id, f.agency, len(res.plates))
            reads += to_reads(f, res.plates, res.width, res.height)
        return reads, dead

    @classmethod
    def from_settings(cls, settings) -> "RecognizeStage":
        """The stage as the engines build it from :class:`alpr.config.Settings`."""
        return cls(settings.inference, topn=settings.topn, country=settings.country, state=settings.state,
                   fine_long_side=settings.fine_long_side)

    @staticmethod
    def _dead(d: DecodedFrame, exc: BaseException) -> DeadLetter:
        f = d.frame
        return dead_letter("inference", f"inference failed: {type(exc).__name__}: {exc}", f.frame_id, f.data,
                           detail=f"camera={f.camera_id} agency={f.agency} seq={f.seq} capture_ts={f.capture_ts!r}")
