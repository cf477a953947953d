"""Per-camera series stay bounded: 10,000 cameras through the embedded metrics API export a few
series per agency and at most ALPR_METRICS_TOP_CAMERAS named cameras; every camera's detail is in
the camera table (GET /cameras), not in labels."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY, generate_latest

from alpr.observability import cameras, metrics

N_CAMERAS = 10_000
AGENCIES = [f"AGCARD{i}" for i in range(5)]
PREFIX = "cam-card-"


def alpr_samples() -> list:
    return [s for fam in REGISTRY.collect() if fam.name.startswith("alpr_") for s in fam.samples]


def test_ten_thousand_cameras_keep_the_series_bounded():
    before = {(s.name, tuple(sorted(s.labels.items()))) for s in alpr_samples()}
    cams = {f"{PREFIX}{i:05d}": AGENCIES[i % len(AGENCIES)] for i in range(N_CAMERAS)}
    now = time.time()
    try:
        metrics.set_expected_cameras({**cams, f"{PREFIX}never": AGENCIES[0]}, offline_after_s=60)
        for i, (cam, ag) in enumerate(cams.items()):
            heard = now - (600 if i % 100 == 0 else 1)  # 1% of the cameras went quiet 10 min ago
            metrics.observe_frame(cam, ag, capture_ts=heard - 0.5, now=heard)
            metrics.observe_decoded(cam, ag)
            metrics.observe_reads(cam, ag, 2)
            metrics.observe_group(cam, ag)
            metrics.observe_group(cam, ag, confirmed=False)
            metrics.observe_gateway_frame(cam, ag)
            if i % 10 == 0:
                metrics.observe_decode_failure(cam, ag)

        samples = alpr_samples()
        named = [s for s in samples if s.labels.get("camera", "").startswith(PREFIX)]
        assert 0 < len(named) <= cameras.TABLE.top_k  # the longest-silent few, by name
        assert {s.name for s in named} == {"alpr_silent_camera_last_frame_timestamp_seconds"}
        assert all(s.value <= now - 599 for s in named)  # only silent cameras are named
        new = {(s.name, tuple(sorted(s.labels.items()))) for s in samples} - before
        # ~20 samples per agency (counters have _total and _created) + the top k, not one per camera
        assert len(new) <= 25 * len(AGENCIES) + cameras.TABLE.top_k, sorted(new)
        assert len(generate_latest(REGISTRY)) < 200_000  # one scrape stays small

        for ag in AGENCIES:
            assert REGISTRY.get_sample_value("alpr_frames_total", {"agency": ag}) == N_CAMERAS / len(AGENCIES)
            assert REGISTRY.get_sample_value("alpr_reads_total", {"agency": ag}) == 2 * N_CAMERAS / len(AGENCIES)
            assert REGISTRY.get_sample_value("alpr_cameras_seen", {"agency": ag}) == N_CAMERAS / len(AGENCIES)
        silent = sum(REGISTRY.get_sample_value("alpr_cameras_silent", {"agency": ag}) for ag in AGENCIES)
        offline = sum(REGISTRY.get_sample_value("alpr_cameras_offline", {"agency": ag}) for ag in AGENCIES)
        assert silent == N_CAMERAS // 100 and offline == silent + 1  # + the camera never seen

        # every camera's detail is in the table (the /cameras endpoint), without plates
        records = {r["camera_id"]: r for r in metrics.health_records() if r["camera_id"].startswith(PREFIX)}
        assert len(records) == N_CAMERAS + 1
        assert records[f"{PREFIX}00000"]["status"] == "silent" and records[f"{PREFIX}00001"]["status"] == "ok"
        assert records[f"{PREFIX}never"]["status"] == "never_seen"
        assert records[f"{PREFIX}00010"]["reads"] == 2 and records[f"{PREFIX}00010"]["decode_failures"] == 1
        assert not any("plate" in key for key in records[f"{PREFIX}00010"])
    finally:
        metrics.set_expected_cameras([])
        with cameras.TABLE.lock:  # the table is process-wide: leave it as the other tests found it
            for cam in cams:
                cameras.TABLE.cams.pop(cam, None)


def test_the_camera_table_is_bounded_and_agency_labels_are_capped():
    table = cameras.CameraTable(max_cameras=100, top_k=3)
    for i in range(250):
        table.frame(f"cam-lru-{i}", "AG", capture_ts=1.0, now=float(i))
    assert len(table.cams) == 100 and table.evicted == 150
    assert "cam-lru-249" in table.cams and "cam-lru-0" not in table.cams  # least recently heard go first
    fams = {f.name: f for f in cameras.CameraCollector(table).collect()}
    assert len(fams["alpr_silent_camera_last_frame_timestamp_seconds"].samples) == 3
    assert fams["alpr_cameras_seen"].samples[0].value == 100

    saved = set(cameras._AGENCIES)  # process-wide: give the other tests their agencies back
    try:
        labels = {cameras.agency_label(f"AGENCY-FLOOD-{i}") for i in range(cameras.MAX_AGENCIES + 50)}
        assert "other" in labels and len(labels) <= cameras.MAX_AGENCIES + 1
        assert cameras.agency_label(sorted(saved)[0] if saved else "AGENCY-FLOOD-0") != "other"  # known ones stay
    finally:
        cameras._AGENCIES.clear()
        cameras._AGENCIES.update(saved)
