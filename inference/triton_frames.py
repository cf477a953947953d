"""Triton client for the frame recogniser ``plate_read``: encoded frames go to the server as they
came (JPEG/PNG bytes, one BYTES row per frame, several frames per request) and plates come back,
one JSON document per frame (:mod:`alpr.inference.frame_reads`). Decoding, resizing, detection
and recognition run inside the server, so a 100 KB frame is about 100 KB on the wire instead of
the megabytes of float tensors :class:`~alpr.inference.triton_backend.TritonBackend` sends.

Connection handling, pickling and retries are :class:`TritonBackend`'s (one gRPC client, created
lazily and never pickled; ``UNAVAILABLE`` / ``DEADLINE_EXCEEDED`` / ``RESOURCE_EXHAUSTED``
retried with backoff, then :class:`InferenceUnavailable`; other server errors
:class:`BackendError` at once). A batch larger than the model's ``max_batch_size`` is sent in
several requests. The recogniser settings (``topn``, ``country``, ``state``, ``fine_long_side``)
travel as request parameters, so one server serves every pipeline configuration.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .backends import BackendError
from .frame_reads import INPUT, MODEL, OUTPUT, FrameResult, parse_frame_result
from .triton_backend import DEFAULT_URL, InferenceUnavailable, TritonBackend

__all__ = ["TritonFrameRecognizer", "InferenceUnavailable"]


class TritonFrameRecognizer:
    """:class:`~alpr.inference.frame_reads.FrameRecognizer` over Triton's ``plate_read``."""

    def __init__(self, url: str = DEFAULT_URL, model: str = MODEL, topn: int = 10, country: str = "auto",
                 state: Optional[str] = None, fine_long_side: Optional[int] = None, timeout_s: float = 60.0, retries: int = 3, backoff_s: float = 0.2,
                 max_backoff_s: float = 5.0, model_version: str = "", **kwargs: Any) -> None:
        if topn < 1:
            raise ValueError(f"topn must be >= 1, got {topn}")
        self.model = model
        self.params = {"topn": int(topn), "country": (country or "auto").lower(), "state": (state or "").upper()}
        if fine_long_side is not None:  # otherwise the server's PlateRecognizer default
            self.params["fine_long_side"] = int(fine_long_side)
        # the transport: client, retries, pickling, model config (its det/rec names are unused)
        self.rpc = TritonBackend(url=url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
                                 max_backoff_s=max_backoff_s, model_version=model_version, **kwargs)
        #: requests, frames and frame bytes sent so far (batching and wire size, for tests/benchmarks)
        self.sent = {"requests": 0, "frames": 0, "bytes": 0}

    @property
    def url(self) -> str:
        return self.rpc.url

    def provenance(self) -> dict[str, str]:
        return {"frame_recognizer": f"triton:{self.model}@{self.rpc.model_version or 'latest'}",
                "runtime": f"triton-grpc:{self.rpc.url}"}

    def ready(self) -> bool:
        try:
            c = self.rpc._get_client()
            return bool(c.is_server_ready(client_timeout=self.rpc.timeout_s)
                        and c.is_model_ready(self.model, self.rpc.model_version, client_timeout=self.rpc.timeout_s))
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        self.rpc.close()

    def read_frames(self, frames: Sequence[bytes]) -> list[FrameResult]:
        frames = [bytes(f) for f in frames]
        if not frames:
            return []
        limit = self.rpc._max_batch_size(self.model)
        step = limit if limit > 0 else len(frames)
        out: list[FrameResult] = []
        for s in range(0, len(frames), step):
            out += self._request(frames[s:s + step])
        return out

    def _request(self, chunk: list[bytes]) -> list[FrameResult]:
        import tritonclient.grpc as grpcclient

        data = np.array(chunk, dtype=np.object_).reshape(len(chunk), 1)

        def run(client: Any) -> np.ndarray:
            inp = grpcclient.InferInput(INPUT, [len(chunk), 1], "BYTES")
            inp.set_data_from_numpy(data)
            res = client.infer(self.model, [inp], model_version=self.rpc.model_version,
                               outputs=[grpcclient.InferRequestedOutput(OUTPUT)], parameters=self.params,
                               client_timeout=self.rpc.timeout_s)
            arr = res.as_numpy(OUTPUT)
            if arr is None:
                raise BackendError(f"triton {self.model}: response has no output {OUTPUT!r}")
            return arr

        arr = self.rpc._call(f"infer({self.model}, {len(chunk)} frames)", run)
        self.sent["requests"] += 1
        self.sent["frames"] += len(chunk)
        self.sent["bytes"] += sum(len(f) for f in chunk)
        docs = arr.reshape(-1)
        if len(docs) != len(chunk):
            raise BackendError(f"triton {self.model}: {len(docs)} answers for {len(chunk)} frames")
        try:
            return [parse_frame_result(d) for d in docs]
        except ValueError as exc:
            raise BackendError(f"triton {self.model}: {exc}") from exc

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["sent"] = {k: 0 for k in self.sent}
        return state

    def __repr__(self) -> str:
        return f"TritonFrameRecognizer(url={self.rpc.url!r}, model={self.model!r}, params={self.params})"
