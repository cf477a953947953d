"""End to end on the embedded default: synthetic clip -> Beam DirectRunner -> SQLite + JSONL."""
import json
import time

import apache_beam as beam
import pytest

from alpr.config import load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.stores import open_store
from alpr.connectors.stores.base import ReadQuery
from alpr.pipelines.graph import build, pipeline_options, run
from alpr.records import Frame, HotlistEntry

N_VEHICLES, SEED = 3, 11  # 134 frames (CI time); K = 2 of them on the hotlist


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    settings = load_settings(source=f"synthetic:{N_VEHICLES}", camera_id="cam-e2e", agency="AG1", seed=SEED,
                             store=f"sqlite:{out}/alpr.db", alerts_sink=f"jsonl:{out}/alerts.jsonl",
                             print_results=False)
    cam = SyntheticCamera("cam-e2e", "AG1", n_vehicles=N_VEHICLES, seed=SEED)
    plates = [v.plate for v in cam.vehicles]
    assert len(set(plates)) == N_VEHICLES
    wanted = [plates[0], plates[2]]  # K = 2 of the N vehicles are on the hotlist
    now = time.time()
    entries = [HotlistEntry(f"e{i}", p, "V", list_name="Stolen Vehicle", source="ncic", created_ts=now)
               for i, p in enumerate(wanted)]
    # decoys that must NOT hit: far from every plate in the clip
    entries.append(HotlistEntry("decoy", "ZZZ9999", "V"))
    store = open_store(settings.store)
    store.upsert_entries(entries)
    store.close()
    summary = run(settings)
    return settings, out, plates, wanted, summary, cam


def test_exactly_k_alerts_with_the_right_plates(demo_run):
    settings, out, plates, wanted, summary, _ = demo_run
    alerts = [json.loads(l) for l in (out / "alerts.jsonl").read_text().splitlines()]
    assert sorted(a["read_plate"] for a in alerts) == sorted(wanted)
    assert all(a["schema"] == "Alert/1" and a["match_type"] == "exact" for a in alerts)
    store = open_store(settings.store)
    assert sorted(a.read_plate for a in store.get_alerts()) == sorted(wanted)
    assert summary.counters["alerts"] == len(wanted)


def test_every_vehicle_has_one_group_stored_with_expiry(demo_run):
    settings, out, plates, _, summary, _ = demo_run
    store = open_store(settings.store)
    groups = store.get_groups(camera_id="cam-e2e")
    assert sorted(g.best_plate for g in groups if g.num_reads >= 2) == sorted(plates)
    now = time.time()
    for g in groups:
        assert g.expires_at and g.expires_at > now + 364 * 86400
    reads = store.search_reads(ReadQuery(camera_id="cam-e2e", limit=100000))
    assert len(reads) == summary.counters["reads"]
    assert all(store.read_expiry(r.read_id) > now + 364 * 86400 for r in reads[:20])
    assert summary.counters["frames_in"] == summary.counters["frames_decoded"]


def test_bad_frames_go_to_dead_letter_and_pipeline_continues(tmp_path):
    settings = load_settings(store=f"sqlite:{tmp_path}/a.db", alerts_sink=f"jsonl:{tmp_path}/alerts.jsonl",
                             print_results=False)
    cam = SyntheticCamera("cam-x", "AG1", n_vehicles=1, seed=3)
    good = list(cam.frames())
    bad = [Frame("cam-x", "AG1", 9001, good[0].capture_ts, b"", source="test"),
           Frame("cam-x", "AG1", 9002, good[0].capture_ts, b"\xff\xd8\xff\xe0garbage-not-a-jpeg", source="test"),
           Frame("cam-x", "AG1", 9003, good[0].capture_ts, good[5].data[: len(good[5].data) // 3], source="test")]
    p = beam.Pipeline(options=pipeline_options(settings))
    frames = p | beam.Create(good + bad) | beam.Map(lambda f: beam.window.TimestampedValue(f, f.capture_ts))
    build(p, settings, frames=frames)
    result = p.run()
    result.wait_until_finish()
    decoded = sum(c.committed for c in result.metrics().query()["counters"] if c.key.metric.name == "frames_decoded")
    store = open_store(settings.store)
    dead = store.get_dead_letters()
    keys = {d.key for d in dead}
    assert {"cam-x:9001", "cam-x:9002"} <= keys
    assert all(d.stage == "decode" and d.reason for d in dead)
    # the truncated JPEG either decodes partially (and is processed) or is dead-lettered: never lost
    assert decoded + len(dead) == len(good) + len(bad)
    groups = store.get_groups(camera_id="cam-x")
    assert [g.best_plate for g in groups if g.num_reads >= 2] == [cam.vehicles[0].plate]
