"""TritonBackend behaviour that needs no server: argument checks, retries, InferenceUnavailable."""

from __future__ import annotations

import pickle
import socket
import time

import numpy as np
import pytest

from alpr.inference.backends import BackendError
from alpr.inference.triton_backend import InferenceUnavailable, TritonBackend

pytest.importorskip("tritonclient.grpc")


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    return port


def test_unreachable_server_raises_inference_unavailable_after_backoff():
    be = TritonBackend(url=f"127.0.0.1:{_closed_port()}", timeout_s=2, retries=2, backoff_s=0.2)
    t0 = time.monotonic()
    with pytest.raises(InferenceUnavailable) as err:
        be.detect(np.zeros((1, 3, 32, 32), np.float32))
    elapsed = time.monotonic() - t0
    assert "UNAVAILABLE" in str(err.value) and "3 attempt" in str(err.value)
    assert isinstance(err.value, BackendError)  # callers may catch the base error
    assert elapsed >= 0.1 + 0.2  # two jittered backoffs: 0.1-0.2 s, then 0.2-0.4 s
    assert not be.ready()
    be.close()


@pytest.mark.parametrize("kwargs", [
    {"url": "http://127.0.0.1:8001"},
    {"url": "nohostport"},
    {"timeout_s": 0},
    {"retries": -1},
    {"backoff_s": -0.1},
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TritonBackend(**kwargs)


def test_lazy_client_and_pickle():
    be = TritonBackend(url=f"127.0.0.1:{_closed_port()}")
    assert be._client is None  # nothing connects in the constructor
    clone = pickle.loads(pickle.dumps(be))
    assert clone.url == be.url and clone._client is None
    with pytest.raises(ValueError):
        clone.detect(np.zeros((1, 3), np.float32))  # shape checked before any network call
