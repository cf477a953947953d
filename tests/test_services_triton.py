"""Triton (raw tritonserver from nvidia-pytriton) serving plate_det / plate_rec, and
TritonBackend giving the same outputs as the in-process OnnxBackend."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

from alpr.inference.backends import DEFAULT_MODEL_DIR, BackendError, InferenceBackend, OnnxBackend
from alpr.inference.triton_backend import InferenceUnavailable, TritonBackend

pytestmark = pytest.mark.services

needs_models = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "rec.onnx").is_file(),
                                  reason="vendored PP-OCR models missing")


@pytest.fixture(scope="module")
def onnx_backend():
    return OnnxBackend(intra_op_threads=1)


@pytest.fixture()
def triton_backend(triton_service):
    be = TritonBackend(url=triton_service.grpc_url, timeout_s=60, retries=2, backoff_s=0.1)
    yield be
    be.close()


def _rng_batch(shape, seed):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)


@needs_models
def test_server_serves_both_models(triton_service):
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(triton_service.grpc_url)
    try:
        assert client.is_server_ready()
        for name, out_name in (("plate_det", "sigmoid_0.tmp_0"), ("plate_rec", "softmax_11.tmp_0")):
            assert client.is_model_ready(name)
            cfg = client.get_model_config(name, as_json=True)["config"]
            assert cfg["backend"] == "python"
            assert int(cfg["max_batch_size"]) > 1
            assert "dynamic_batching" in cfg
            assert cfg["instance_group"][0]["kind"] == "KIND_CPU"
            assert [o["name"] for o in cfg["output"]] == [out_name]
    finally:
        client.close()


@needs_models
def test_triton_matches_onnx_detect(triton_backend, onnx_backend):
    assert isinstance(triton_backend, InferenceBackend)
    x = _rng_batch((2, 3, 64, 96), seed=1)
    got = triton_backend.detect(x)
    want = onnx_backend.detect(x)
    assert got.shape == want.shape == (2, 1, 64, 96)
    assert got.dtype == np.float32
    assert np.allclose(got, want, atol=1e-4), float(np.abs(got - want).max())


@needs_models
def test_triton_matches_onnx_recognize_and_charset(triton_backend, onnx_backend):
    x = _rng_batch((3, 3, 48, 160), seed=2)
    got = triton_backend.recognize(x)
    want = onnx_backend.recognize(x)
    assert got.shape == want.shape == (3, 20, len(onnx_backend.charset))
    assert np.allclose(got, want, atol=1e-4), float(np.abs(got - want).max())
    assert triton_backend.charset == onnx_backend.charset


@needs_models
def test_batch_larger_than_max_batch_size_is_split(triton_backend, onnx_backend):
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(triton_backend.url)
    limit = int(client.get_model_config("plate_det", as_json=True)["config"]["max_batch_size"])
    client.close()
    x = _rng_batch((limit + 1, 3, 32, 32), seed=3)
    got = triton_backend.detect(x)
    assert got.shape == (limit + 1, 1, 32, 32)
    assert np.allclose(got, onnx_backend.detect(x), atol=1e-4)


@needs_models
def test_pickles_after_use(triton_backend):
    x = _rng_batch((1, 3, 32, 32), seed=4)
    first = triton_backend.detect(x)
    clone = pickle.loads(pickle.dumps(triton_backend))  # the live gRPC client is not pickled
    assert clone._client is None
    assert np.array_equal(clone.detect(x), first)
    clone.close()


@needs_models
def test_bad_input_is_a_backend_error_not_retried(triton_backend):
    with pytest.raises(ValueError):
        triton_backend.recognize(_rng_batch((1, 3, 32, 64), seed=5))  # wrong height, caught client-side
    bad = TritonBackend(url=triton_backend.url, det_model="no_such_model", retries=3, backoff_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(BackendError) as err:
        bad.detect(_rng_batch((1, 3, 32, 32), seed=6))
    assert not isinstance(err.value, InferenceUnavailable)
    assert "no_such_model" in str(err.value)
    assert time.monotonic() - t0 < 1.0  # not retried
    bad.close()
