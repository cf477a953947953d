"""Triton (KServe V2 gRPC) adapter for :class:`alpr.inference.backends.InferenceBackend`.

Serves the same tensor contract as :class:`~alpr.inference.backends.OnnxBackend`: the Triton
models ``plate_det`` and ``plate_rec`` (``infra/triton/model_repository``) use the ONNX files'
own tensor names (``x`` -> ``sigmoid_0.tmp_0`` / ``softmax_11.tmp_0``), so both adapters return
the same arrays for the same batch.

* The gRPC client is created lazily on first use and dropped when pickled (Beam ships DoFns and
  model handlers to workers by pickling; gRPC channels do not pickle).
* Transient failures (gRPC ``UNAVAILABLE``, ``DEADLINE_EXCEEDED``, ``RESOURCE_EXHAUSTED``) are
  retried ``retries`` times with exponential backoff (``backoff_s * 2**attempt``, capped at
  ``max_backoff_s``, with equal jitter: each delay drawn from the upper half of that, see
  :class:`alpr.backoff.RetryPacer`); when they are exhausted :class:`InferenceUnavailable` is
  raised so the pipeline can dead-letter the batch. One warning is logged when the server starts
  failing and one line when it answers again, not one per attempt. Any other server error (bad shape, unknown model) raises
  :class:`~alpr.inference.backends.BackendError` at once: retrying cannot fix it.
* Batches larger than the model's ``max_batch_size`` (read once from the server's model
  config) are split into chunks and the outputs concatenated.
* ``charset``: Triton's V2 API has no place for the recogniser's 6623-entry class list, so it is
  read from the ``"character"`` metadata of the local rec.onnx, i.e. the vendored copy of the
  very file the server was given (``model_dir``, default ``alpr/inference/models/ppocr``), or
  passed explicitly. On first use it is checked against the class count the server declares
  for ``plate_rec`` (last output dim): a mismatch raises ``BackendError`` instead of decoding
  with the wrong alphabet.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from alpr.backoff import RetryPacer
from alpr.observability.metrics import record_inference_retry
from alpr.inference.backends import (
    DEFAULT_MODEL_DIR,
    DET_INPUT,
    DET_OUTPUT,
    REC_HEIGHT,
    REC_INPUT,
    REC_OUTPUT,
    BackendError,
    _check_batch,
    charset_from_metadata,
)

log = logging.getLogger(__name__)

DEFAULT_URL = "127.0.0.1:18111"
RETRYABLE_STATUS = frozenset({"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED",
                              "StatusCode.RESOURCE_EXHAUSTED"})


class InferenceUnavailable(BackendError):
    """The inference server could not be reached (or kept timing out) after every retry."""


def load_charset(model_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Class list from the ``character`` metadata of ``<model_dir>/rec.onnx``."""
    import onnxruntime as ort

    path = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    rec = path / "rec.onnx"
    if not rec.is_file():
        raise BackendError(f"cannot read the recogniser charset: {rec} not found")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        meta = ort.InferenceSession(str(rec), opts, providers=["CPUExecutionProvider"]) \
            .get_modelmeta().custom_metadata_map
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BackendError(f"cannot read {rec}: {exc}") from exc
    if "character" not in meta:
        raise BackendError(f"{rec} has no 'character' metadata")
    return charset_from_metadata(meta["character"])


def _safe_client_class():
    """tritonclient's gRPC client with a ``close()`` that works on a half-built client: when its
    ``__init__`` raises (a bad URL), ``__del__`` would otherwise print an AttributeError
    traceback at garbage collection, often at interpreter exit."""
    import tritonclient.grpc as grpcclient

    global _SafeClient
    if _SafeClient is None:
        class _SafeClient(grpcclient.InferenceServerClient):  # type: ignore[no-redef]
            _stream = None
            _channel = None

            def close(self) -> None:
                if self._channel is not None:
                    super().close()

    return _SafeClient


_SafeClient = None


class TritonBackend:
    """:class:`InferenceBackend` over ``tritonclient.grpc`` (Triton, or any V2 gRPC server
    that implements ModelConfig)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        det_model: str = "plate_det",
        rec_model: str = "plate_rec",
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        model_version: str = "",
        charset: Optional[Sequence[str]] = None,
        model_dir: str | os.PathLike[str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url or ":" not in url:
            raise ValueError(f"url must be host:port (gRPC), got {url!r}")
        if url.startswith(("http://", "https://", "grpc://")):
            raise ValueError(f"url must be a bare host:port for gRPC, got {url!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if backoff_s < 0 or max_backoff_s < 0:
            raise ValueError("backoff_s and max_backoff_s must be >= 0")
        self.url = url
        self.det_model = det_model
        self.rec_model = rec_model
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.model_version = model_version
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self._charset: Optional[list[str]] = list(charset) if charset is not None else None
        self._charset_checked = False
        self._client: Any = None
        self._max_batch: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pacer = RetryPacer(f"triton {url}", log, base_s=self.backoff_s, cap_s=self.max_backoff_s,
                                 jitter=0.5, sleep=sleep)

    def provenance(self) -> dict[str, str]:
        """Model names on the server with their version (``latest`` when none is pinned)."""
        v = self.model_version or "latest"
        return {"detector": f"triton:{self.det_model}@{v}", "recognizer": f"triton:{self.rec_model}@{v}",
                "runtime": f"triton-grpc:{self.url}"}

    # -- pickling: never ship the gRPC client --------------------------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_client"] = None
        state["_lock"] = None
        state["_max_batch"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- client ----------------------------------------------------------------------------------
    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _safe_client_class()(url=self.url, verbose=False)
            return self._client

    def _reset_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - a broken channel may fail to close; drop it anyway
                pass

    def close(self) -> None:
        """Close the gRPC channel (a later call opens a new one)."""
        self._reset_client()

    def _call(self, what: str, fn: Any) -> Any:
        """Run ``fn(client)`` with retries on transient gRPC errors."""
        from tritonclient.utils import InferenceServerException

        schedule = self._pacer.backoff()
        while True:
            try:
                result = fn(self._get_client())
            except InferenceServerException as exc:
                status = str(exc.status() or "")
                if status not in RETRYABLE_STATUS:
                    raise BackendError(f"triton {self.url} {what}: {status or 'error'}: {exc.message()}") from exc
                if schedule.attempt >= self.retries:
                    raise InferenceUnavailable(
                        f"triton {self.url} {what}: {status} after {schedule.attempt + 1} attempt(s): "
                        f"{exc.message()}") from exc
                self._reset_client()
                record_inference_retry("triton")
                self._pacer.failed(schedule, what, f"{status}: {exc.message()}")
                continue
            self._pacer.succeeded(what)
            return result

    # -- model config ----------------------------------------------------------------------------
    def _model_config(self, model: str) -> dict:
        cfg = self._call(f"get_model_config({model})",
                         lambda c: c.get_model_config(model, self.model_version, as_json=True,
                                                      client_timeout=self.timeout_s))
        return cfg.get("config", cfg)

    def _max_batch_size(self, model: str) -> int:
        if model not in self._max_batch:
            self._max_batch[model] = int(self._model_config(model).get("max_batch_size", 0) or 0)
        return self._max_batch[model]

    def ready(self) -> bool:
        """True when the server and both models are ready (no retries, no exceptions)."""
        try:
            c = self._get_client()
            return bool(c.is_server_ready(client_timeout=self.timeout_s)
                        and c.is_model_ready(self.det_model, self.model_version, client_timeout=self.timeout_s)
                        and c.is_model_ready(self.rec_model, self.model_version, client_timeout=self.timeout_s))
        except Exception:  # noqa: BLE001
            return False

    # -- InferenceBackend ------------------------------------------------------------------------
    @property
    def charset(self) -> list[str]:
        """The local rec model's class list. It is checked against the served model on the
        first :meth:`recognize` call, not here: a pipeline worker must be able to start (and
        dead-letter batches with backoff) while the server is down."""
        if self._charset is None:
            self._charset = load_charset(self.model_dir)
        return self._charset

    def _verify_charset(self) -> None:
        if self._charset_checked:
            return
        out = self._model_config(self.rec_model).get("output", [])
        dims = [int(d) for d in (out[0].get("dims", []) if out else [])]
        if dims and dims[-1] > 0 and dims[-1] != len(self.charset):
            raise BackendError(
                f"charset has {len(self.charset)} classes but triton model {self.rec_model!r} "
                f"outputs {dims[-1]}: the served rec model differs from the local rec.onnx"
            )
        self._charset_checked = True

    def detect(self, batch: np.ndarray) -> np.ndarray:
        x = _check_batch(batch, "detect")
        return self._infer(self.det_model, DET_INPUT, DET_OUTPUT, x)

    def recognize(self, batch: np.ndarray) -> np.ndarray:
        x = _check_batch(batch, "recognize", REC_HEIGHT)
        self._verify_charset()
        return self._infer(self.rec_model, REC_INPUT, REC_OUTPUT, x)

    def _infer(self, model: str, input_name: str, output_name: str, x: np.ndarray) -> np.ndarray:
        import tritonclient.grpc as grpcclient

        limit = self._max_batch_size(model)
        chunks = [x] if limit <= 0 or len(x) <= limit else [x[i:i + limit] for i in range(0, len(x), limit)]
        outs = []
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk)

            def run(client: Any, chunk: np.ndarray = chunk) -> np.ndarray:
                inp = grpcclient.InferInput(input_name, list(chunk.shape), "FP32")
                inp.set_data_from_numpy(chunk)
                res = client.infer(model, [inp], model_version=self.model_version,
                                   outputs=[grpcclient.InferRequestedOutput(output_name)],
                                   client_timeout=self.timeout_s)
                out = res.as_numpy(output_name)
                if out is None:
                    raise BackendError(f"triton {model}: response has no output {output_name!r}")
                return out

            out = self._call(f"infer({model}, {list(chunk.shape)})", run)
            if out.shape[0] != chunk.shape[0] or out.size == 0:
                raise BackendError(
                    f"triton {model}: got output {list(out.shape)} for input {list(chunk.shape)}")
            outs.append(out)
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)

    def __repr__(self) -> str:
        return (f"TritonBackend(url={self.url!r}, det_model={self.det_model!r}, rec_model={self.rec_model!r}, "
                f"timeout_s={self.timeout_s}, retries={self.retries}, backoff_s={self.backoff_s})")
