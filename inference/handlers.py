"""Apache Beam ``RunInference`` model handler for the plate recogniser.

``PlateModelHandler`` takes decoded BGR ``uint8`` images (use
:func:`alpr.inference.recognizer.decode_image` first, which sends undecodable frames down a
dead-letter path) and yields ``PredictionResult(example=image, inference=[RecognizedPlate, ...])``.
The backend is created on the worker in :meth:`load_model`; only the factory is pickled.

Keyed usage (the pipeline keys by frame id)::

    handler = KeyedModelHandler(PlateModelHandler(topn=10))
    results = keyed_images | RunInference(handler)   # (frame_id, PredictionResult)
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from .backends import InferenceBackend, OnnxBackend
from .recognizer import PlateRecognizer, validate_image

METRICS_NAMESPACE = "alpr.recognizer"


def default_backend_factory() -> InferenceBackend:
    """One-core in-process ONNX Runtime backend with the vendored PP-OCRv4 models."""
    return OnnxBackend(intra_op_threads=1)


class PlateModelHandler(ModelHandler[np.ndarray, PredictionResult, PlateRecognizer]):
    """Beam model handler: a batch of images in, one ``PredictionResult`` per image out."""

    def __init__(
        self,
        backend_factory: Callable[[], InferenceBackend] = default_backend_factory,
        topn: int = 10,
        min_batch_size: int = 1,
        max_batch_size: int = 8,
        max_batch_duration_secs: Optional[int] = None,
        recognizer_kwargs: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if min_batch_size < 1 or max_batch_size < min_batch_size:
            raise ValueError(
                f"need 1 <= min_batch_size <= max_batch_size, got {min_batch_size}, {max_batch_size}"
            )
        if topn < 1:
            raise ValueError(f"topn must be >= 1, got {topn}")
        if not callable(backend_factory):
            raise TypeError("backend_factory must be a callable returning an InferenceBackend")
        super().__init__()
        self._backend_factory = backend_factory
        self._topn = topn
        self._min_batch_size = min_batch_size
        self._max_batch_size = max_batch_size
        self._max_batch_duration_secs = max_batch_duration_secs
        self._recognizer_kwargs = dict(recognizer_kwargs or {})

    def load_model(self) -> PlateRecognizer:
        backend = self._backend_factory()
        if not isinstance(backend, InferenceBackend):
            raise TypeError(f"backend_factory returned {type(backend).__name__}, not an InferenceBackend")
        return PlateRecognizer(backend, topn=self._topn, **self._recognizer_kwargs)

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: PlateRecognizer,
        inference_args: Optional[dict[str, Any]] = None,
    ) -> Iterable[PredictionResult]:
        """Recognise a batch; a ``ValueError`` names the first invalid image in the batch."""
        images = list(batch)
        for i, img in enumerate(images):
            try:
                validate_image(img)
            except ValueError as exc:
                raise ValueError(f"batch element {i}: {exc}") from exc
        results = model.recognize_batch(images)
        return [PredictionResult(example=img, inference=plates) for img, plates in zip(images, results)]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return int(sum(getattr(x, "nbytes", 0) for x in batch))

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        kwargs: dict[str, Any] = {
            "min_batch_size": self._min_batch_size,
            "max_batch_size": self._max_batch_size,
        }
        if self._max_batch_duration_secs is not None:
            kwargs["max_batch_duration_secs"] = self._max_batch_duration_secs
        return kwargs

    def share_model_across_processes(self) -> bool:
        return False

    def __repr__(self) -> str:
        return (
            f"PlateModelHandler(topn={self._topn}, min_batch_size={self._min_batch_size}, "
            f"max_batch_size={self._max_batch_size})"
        )
