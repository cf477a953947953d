"""Inference backends: the port that runs the two PP-OCRv4 networks, and its ONNX Runtime adapter.

A backend only runs the networks. All pre-processing (resizing, normalisation, cropping) and
post-processing (DB box extraction, CTC decoding, plate rules) live in
:mod:`alpr.inference.recognizer` and its helpers, so every backend gives identical plates.

Tensor contract (shared by every adapter, e.g. the in-process ONNX one below and a Triton gRPC one):

Detection model ``det`` (PP-OCRv4 DB text detector, ``models/ppocr/det.onnx``)
    input  ``x``                float32 ``[N, 3, H, W]``  BGR channel order, values
                                ``(pixel / 255 - 0.5) / 0.5`` (i.e. in [-1, 1]); H and W are
                                multiples of 32 (any size; dynamic axes N, H, W).
    output ``sigmoid_0.tmp_0``  float32 ``[N, 1, H, W]``  per-pixel text probability in [0, 1].
    :meth:`InferenceBackend.detect` returns it unchanged, shape ``[N, 1, H, W]``.

Recognition model ``rec`` (PP-OCRv4 SVTR-LCNet CTC recogniser, ``models/ppocr/rec.onnx``)
    input  ``x``                 float32 ``[N, 3, 48, W]`` BGR, same normalisation as ``det``;
                                 W dynamic (the recogniser uses multiples of 8, see
                                 ``recognizer.REC_WIDTHS``); a padded right side holds 0.0.
    output ``softmax_11.tmp_0``  float32 ``[N, W // 8, C]`` per-timestep softmax over
                                 ``C = 6625`` classes; class 0 is the CTC blank, classes
                                 1..6623 are the model's character list, class 6624 is " ".
    :meth:`InferenceBackend.recognize` returns it unchanged, shape ``[N, T, C]``.
    ``charset`` is the full class list of length C (``charset[0] == "<blank>"``,
    ``charset[-1] == " "``). The ONNX file stores the 6623 characters, newline separated,
    in its metadata key ``"character"``; a server-side backend must expose the same list.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "ppocr"

DET_INPUT = "x"
DET_OUTPUT = "sigmoid_0.tmp_0"
REC_INPUT = "x"
REC_OUTPUT = "softmax_11.tmp_0"
REC_HEIGHT = 48
BLANK = "<blank>"


class BackendError(RuntimeError):
    """The backend could not load or run a model."""


@runtime_checkable
class InferenceBackend(Protocol):
    """Runs the text detector and the text recogniser; nothing else."""

    @property
    def charset(self) -> list[str]:
        """Class list of the recogniser output, index 0 = CTC blank, last = space."""
        ...

    def detect(self, batch: np.ndarray) -> np.ndarray:
        """``float32 [N,3,H,W]`` normalised images -> ``float32 [N,1,H,W]`` text probabilities."""
        ...

    def recognize(self, batch: np.ndarray) -> np.ndarray:
        """``float32 [N,3,48,W]`` normalised line crops -> ``float32 [N,W//8,C]`` CTC softmax."""
        ...


def file_digest(path: Path) -> str:
    """First 12 hex digits of the file's SHA-256 (the model checksum every read records)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def model_ids(backend: object) -> tuple[str, str]:
    """``(detector, recognizer)`` names with checksum or version, e.g.
    ``("ppocrv4-det@sha256:d2a7720d45a5", ...)``; ``("unknown", "unknown")`` for a backend that
    does not say."""
    prov = getattr(backend, "provenance", None)
    if callable(prov):
        d = prov()
        return str(d.get("detector", "unknown")), str(d.get("recognizer", "unknown"))
    return "unknown", "unknown"


def charset_from_metadata(character: str) -> list[str]:
    """Build the full class list from the rec model's ``character`` metadata string."""
    chars = character.splitlines()
    if not chars:
        raise BackendError("recognition model has an empty 'character' list")
    return [BLANK, *chars, " "]


def _check_batch(batch: np.ndarray, what: str, height: int | None = None) -> np.ndarray:
    if not isinstance(batch, np.ndarray):
        raise ValueError(f"{what}: expected a numpy array, got {type(batch).__name__}")
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"{what}: expected shape [N,3,H,W], got {list(batch.shape)}")
    if height is not None and batch.shape[2] != height:
        raise ValueError(f"{what}: expected height {height}, got {batch.shape[2]}")
    if batch.shape[0] == 0 or batch.shape[2] == 0 or batch.shape[3] == 0:
        raise ValueError(f"{what}: empty batch {list(batch.shape)}")
    return np.ascontiguousarray(batch, dtype=np.float32)


class OnnxBackend:
    """In-process ONNX Runtime (CPU) adapter for :class:`InferenceBackend`.

    ``intra_op_threads`` bounds the threads each session may use (1 = one core, the
    default, so that parallel Beam workers do not oversubscribe the machine).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        intra_op_threads: int = 1,
        providers: list[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        det_path = self.model_dir / "det.onnx"
        rec_path = self.model_dir / "rec.onnx"
        for p in (det_path, rec_path):
            if not p.is_file():
                raise BackendError(f"model file not found: {p}")
        if intra_op_threads < 1:
            raise ValueError(f"intra_op_threads must be >= 1, got {intra_op_threads}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        providers = providers or ["CPUExecutionProvider"]
        try:
            self._det = ort.InferenceSession(str(det_path), opts, providers=providers)
            self._rec = ort.InferenceSession(str(rec_path), opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"cannot load PP-OCR models from {self.model_dir}: {exc}") from exc
        meta = self._rec.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise BackendError(f"{rec_path} has no 'character' metadata")
        self._charset = charset_from_metadata(meta["character"])
        self._det_out = self._det.get_outputs()[0].name
        self._rec_out = self._rec.get_outputs()[0].name
        self.intra_op_threads = intra_op_threads
        self._provenance = {
            "detector": f"ppocrv4-det@sha256:{file_digest(det_path)}",
            "recognizer": f"ppocrv4-rec@sha256:{file_digest(rec_path)}",
            "runtime": f"onnxruntime-{ort.__version__}",
        }

    def provenance(self) -> dict[str, str]:
        """Model names with checksums (``name@sha256:<12 hex>``) and the runtime."""
        return dict(self._provenance)

    @property
    def charset(self) -> list[str]:
        return self._charset

    def detect(self, batch: np.ndarray) -> np.ndarray:
        x = _check_batch(batch, "detect")
        return self._det.run([self._det_out], {DET_INPUT: x})[0]

    def recognize(self, batch: np.ndarray) -> np.ndarray:
        x = _check_batch(batch, "recognize", REC_HEIGHT)
        return self._rec.run([self._rec_out], {REC_INPUT: x})[0]

    def __repr__(self) -> str:
        return f"OnnxBackend(model_dir={str(self.model_dir)!r}, intra_op_threads={self.intra_op_threads})"
