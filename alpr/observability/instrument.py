"""Instrumentation wrappers for ports whose code lives elsewhere.

:class:`InstrumentedBackend` wraps any :class:`~alpr.inference.backends.InferenceBackend`
(ONNX in-process or Triton) and times every ``detect``/``recognize`` call: latency and batch
size histograms, errors by exception type. It changes nothing else — same results, same
exceptions.
"""

from __future__ import annotations

import time
from typing import Any

from .metrics import observe_inference


class InstrumentedBackend:
    """Transparent, metered proxy of an inference backend."""

    def __init__(self, inner: Any, backend: str):
        self._inner = inner
        self._backend = backend

    @property
    def charset(self) -> list[str]:
        return self._inner.charset

    def _timed(self, model: str, fn, batch):
        n = int(getattr(batch, "shape", (len(batch),))[0]) if batch is not None else 0
        t0 = time.perf_counter()
        try:
            out = fn(batch)
        except Exception as exc:
            observe_inference(self._backend, model, n, time.perf_counter() - t0, error=exc)
            raise
        observe_inference(self._backend, model, n, time.perf_counter() - t0)
        return out

    def detect(self, batch):
        return self._timed("det", self._inner.detect, batch)

    def recognize(self, batch):
        return self._timed("rec", self._inner.recognize, batch)

    def __getattr__(self, name: str) -> Any:  # close(), ready(), url... pass through
        if name.startswith("_"):  # incl. _inner during unpickling: no recursion
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"InstrumentedBackend({self._inner!r})"
