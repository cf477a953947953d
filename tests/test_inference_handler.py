"""PlateModelHandler inside Beam RunInference on the DirectRunner."""

from __future__ import annotations

import pickle

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that

from alpr.inference.handlers import PlateModelHandler
from alpr.inference.recognizer import PlateRecognizer
from inference_helpers import scene


def test_handler_settings_and_pickling():
    h = PlateModelHandler(topn=3, min_batch_size=2, max_batch_size=4)
    assert h.get_metrics_namespace() == "alpr.recognizer"
    assert h.batch_elements_kwargs() == {"min_batch_size": 2, "max_batch_size": 4}
    clone = pickle.loads(pickle.dumps(h))  # no backend inside: it is built on the worker
    assert clone.batch_elements_kwargs() == h.batch_elements_kwargs()
    assert h.get_num_bytes([np.zeros((10, 10, 3), np.uint8)] * 2) == 600
    with pytest.raises(ValueError):
        PlateModelHandler(min_batch_size=5, max_batch_size=2)


def test_handler_run_inference_direct():
    h = PlateModelHandler(topn=3)
    model = h.load_model()
    assert isinstance(model, PlateRecognizer)
    img, _ = scene("7ABC123")
    out = list(h.run_inference([img, img], model))
    assert len(out) == 2 and all(isinstance(r, PredictionResult) for r in out)
    assert out[0].example is img
    assert out[0].inference[0].plate == "7ABC123"
    with pytest.raises(ValueError, match="batch element 1"):
        h.run_inference([img, np.zeros((5,), np.uint8)], model)


def test_keyed_run_inference_on_direct_runner():
    frames = [
        ("cam1:1", scene("7ABC123", seed=1)[0]),
        ("cam1:2", scene("XY9034", seed=2)[0]),
        ("cam1:3", np.full((480, 640, 3), 120, np.uint8)),
    ]

    def check(results):
        got = {k: [p.plate for p in r.inference] for k, r in results}
        assert set(got) == {"cam1:1", "cam1:2", "cam1:3"}, got
        assert got["cam1:1"][:1] == ["7ABC123"], got
        assert got["cam1:2"][:1] == ["XY9034"], got
        assert got["cam1:3"] == [], got

    with BeamPipeline() as p:
        results = (
            p
            | beam.Create(frames)
            | RunInference(KeyedModelHandler(PlateModelHandler(topn=3, max_batch_size=3)))
        )
        assert_that(results, check)
