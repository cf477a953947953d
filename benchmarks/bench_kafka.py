"""Kafka producer throughput of one producer: durable (acks=all, idempotent) vs acks=1.

Usage (Kafka running, e.g. ``infra/services.sh up kafka``)::

    .venv/bin/python benchmarks/bench_kafka.py [--kafka 127.0.0.1:19092] [--frames 300] [--small 20000]
        [--rounds 2]

* frames: 1280x720 synthetic-camera JPEGs (JPEG quality 75, ~100 KB) published with
  ``CameraGateway.publish_raw`` + ``flush`` (``producer_config``: acks=all, enable.idempotence,
  linger.ms 5, lz4) - the camera gateway as it runs.
* small messages: ~500 B Alert JSON with the alert sink's producer (``producer_config``).
* baseline (same run, same payloads, same linger/compression): acks=1, idempotence off.

Messages/s and MB/s of wall clock until every message is acknowledged, plus the producer's
CPU per message; the broker (one KRaft node, replication factor 1) runs on the same shared
cores. Rounds alternate ours/baseline; the median is reported. Topics ``bench-frames-<run>``
and ``bench-small-<run>`` are created and deleted. The last line is JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

from alpr.connectors.auth import with_credentials  # SASL/SCRAM (ALPR_KAFKA__SASL_*)

from benchlib import add_service_args, emit, ratio, resolve_service_args


def baseline_config(bootstrap: str) -> dict:
    from alpr.connectors.kafka import producer_config

    cfg = producer_config(bootstrap)
    cfg.update({"acks": "1", "enable.idempotence": False})
    return cfg


def publish(producer, topic: str, payloads: list[tuple[bytes, bytes, list]], errors: list) -> tuple[float, float]:
    def cb(err, _msg):
        if err is not None:
            errors.append(str(err))

    c0, w0 = time.process_time(), time.perf_counter()
    for key, value, headers in payloads:
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers, on_delivery=cb)
                break
            except BufferError:
                producer.poll(0.2)
        producer.poll(0)
    left = producer.flush(60)
    if left or errors:
        raise RuntimeError(f"{left} undelivered, {len(errors)} failed: {errors[:1]}")
    return time.perf_counter() - w0, time.process_time() - c0


def gateway_publish(gw, payloads) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    for key, value, headers in payloads:
        gw.publish_raw(key.decode(), value, headers)
    gw.flush()
    return time.perf_counter() - w0, time.process_time() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_service_args(ap, kafka=True)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--small", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args(argv)
    resolve_service_args(a)

    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from alpr.connectors.camera.synthetic import SyntheticCamera
    from alpr.connectors.kafka import CameraGateway, frame_headers, producer_config
    from alpr.records import Alert

    run = uuid.uuid4().hex[:8]
    t_frames, t_small = f"bench-frames-{run}", f"bench-small-{run}"
    admin = AdminClient(with_credentials({"bootstrap.servers": a.kafka}))
    for f in admin.create_topics([NewTopic(t, 2, 1) for t in (t_frames, t_small)]).values():
        f.result(30)

    cam = SyntheticCamera("cam-kafka", "BENCH", n_vehicles=2, seed=3, jpeg_quality=75)
    clip = list(cam.frames())
    frames = [(f.camera_id.encode(), f.data, frame_headers(f)) for f in (clip[i % len(clip)] for i in range(a.frames))]
    alert = Alert("a" * 20, "g" * 20, "cam-kafka", "BENCH", time.time(), "ABC1234", "ABC1234", "e-1", "V",
                  "Stolen Vehicle", "exact", 0, description="blue sedan, stolen 2026-11-27, case 26-004211",
                  case_number="26-004211", entry_source="ncic", entry_agency="CA0000000", aligned="ABC1234",
                  confidence=93.4, emitted_ts=time.time())
    small_value = alert.to_json().encode()
    small = [(b"BENCH", small_value, [("schema", b"Alert/1")]) for _ in range(a.small)]
    frame_bytes = sum(len(v) for _, v, _ in frames) / len(frames)

    res: dict[str, list] = {"frames_ours": [], "frames_base": [], "small_ours": [], "small_base": []}
    gw = CameraGateway(a.kafka, t_frames)
    durable, base = Producer(producer_config(a.kafka)), Producer(baseline_config(a.kafka))
    base_frames = Producer(baseline_config(a.kafka))
    gateway_publish(gw, frames[:5])
    publish(base_frames, t_frames, frames[:5], [])  # warm-up: metadata, connections, producer ids
    publish(durable, t_small, small[:100], [])
    publish(base, t_small, small[:100], [])
    for _ in range(a.rounds):
        res["frames_ours"].append(gateway_publish(gw, frames))
        res["frames_base"].append(publish(base_frames, t_frames, frames, []))
        res["small_ours"].append(publish(durable, t_small, small, []))
        res["small_base"].append(publish(base, t_small, small, []))
    for f in admin.delete_topics([t_frames, t_small]).values():
        try:
            f.result(30)
        except Exception as exc:  # noqa: BLE001 - cleanup only
            print(f"warning: delete topic: {exc}", file=sys.stderr)

    def med(key: str, n: int) -> tuple[float, float]:
        xs = sorted(res[key])
        w, c = xs[len(xs) // 2]
        return n / w, 1e6 * c / n

    fo, fo_cpu = med("frames_ours", len(frames))
    fb, fb_cpu = med("frames_base", len(frames))
    so, so_cpu = med("small_ours", len(small))
    sb, sb_cpu = med("small_base", len(small))
    out = {
        "frame_bytes_avg": round(frame_bytes), "small_bytes": len(small_value),
        "frames_per_round": len(frames), "small_per_round": len(small), "rounds": a.rounds,
        "frames_per_s": round(fo, 1), "frames_mb_per_s": round(fo * frame_bytes / 1e6, 1),
        "frames_cpu_us_per_msg": round(fo_cpu), "baseline_frames_per_s": round(fb, 1),
        "baseline_frames_cpu_us_per_msg": round(fb_cpu), "frames_ratio_vs_baseline": ratio(fo, fb),
        "small_per_s": round(so), "small_cpu_us_per_msg": round(so_cpu, 1),
        "baseline_small_per_s": round(sb), "baseline_small_cpu_us_per_msg": round(sb_cpu, 1),
        "small_ratio_vs_baseline": ratio(so, sb),
        "producer": "acks=all, enable.idempotence=true, linger.ms=5, lz4",
        "baseline": "acks=1, enable.idempotence=false, linger.ms=5, lz4",
        "note": "one KRaft broker (heap 512m, RF 1) on the same 2 shared cores",
    }
    print(f"frames ({frame_bytes / 1e3:.0f} KB): {fo:.0f}/s ({out['frames_mb_per_s']} MB/s) vs acks=1 {fb:.0f}/s; "
          f"small ({len(small_value)} B): {so:.0f}/s vs acks=1 {sb:.0f}/s")
    emit("bench_kafka", **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
