"""A batch the inference server keeps failing on goes to the dead-letter path, never into silence."""
import socket

import apache_beam as beam

from alpr.config import load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.stores import open_store
from alpr.pipelines.graph import build, pipeline_options


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_inference_server_dead_letters_every_frame(tmp_path):
    settings = load_settings(store=f"sqlite:{tmp_path}/a.db", alerts_sink=f"jsonl:{tmp_path}/al.jsonl",
                             inference=f"triton://127.0.0.1:{_closed_port()}", print_results=False,
                             batch_size=4)
    frames = list(SyntheticCamera("cam-f", "AG", n_vehicles=1, seed=3).frames())[:6]
    p = beam.Pipeline(options=pipeline_options(settings))
    build(p, settings, frames=p | beam.Create(frames))
    p.run().wait_until_finish()
    dead = open_store(settings.store).get_dead_letters()
    assert sorted(d.key for d in dead) == sorted(f.frame_id for f in frames)
    assert all(d.stage == "inference" and "InferenceUnavailable" in d.reason for d in dead)
    # each dead letter carries the frame (JPEG) and its provenance, so it can be replayed
    from alpr.inference.recognizer import decode_image

    by_key = {d.key: d for d in dead}
    for f in frames:
        assert decode_image(by_key[f.frame_id].payload).shape == (720, 1280, 3)
        assert f"seq={f.seq} " in by_key[f.frame_id].detail
