"""Helpers for the Flink job tests and benchmarks: feed the frames/hotlist topics, read the
output topics (read_committed), run the job on the cluster and wait for its counters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from alpr.connectors.auth import with_credentials  # SASL/SCRAM (ALPR_KAFKA__SASL_*)
from alpr.records import Alert, Frame, HotlistChange, HotlistEntry, stable_id


def blank_jpeg(width: int = 320, height: int = 240) -> bytes:
    import cv2

    ok, jpg = cv2.imencode(".jpg", np.full((height, width, 3), 90, np.uint8))
    assert ok
    return jpg.tobytes()


def producer(bootstrap: str):
    from confluent_kafka import Producer

    from alpr.connectors.kafka import producer_config

    return Producer(producer_config(bootstrap, **{"linger.ms": 0}))


def publish_frames(bootstrap: str, topic: str, frames: Iterable[Frame], pace_s: float = 0.0,
                   on_sent=None) -> int:
    """Frames as the camera gateway writes them (key camera, JPEG value, headers); ``pace_s``
    between frames (0: as fast as possible); ``on_sent(frame, wall_ts)`` after each."""
    from alpr.connectors.kafka import frame_headers

    p, n = producer(bootstrap), 0
    for f in frames:
        p.produce(topic, key=f.camera_id.encode(), value=f.data, headers=frame_headers(f))
        p.poll(0)
        if pace_s:
            p.flush(5)
        if on_sent:
            on_sent(f, time.time())
        n += 1
        if pace_s:
            time.sleep(pace_s)
    assert p.flush(30) == 0
    return n


def publish_ticks(bootstrap: str, topic: str, partitions: int, capture_ts: float, agency: str = "DHSPD") -> int:
    """One plate-less frame per partition at ``capture_ts``: moves every partition's watermark
    (what live cameras do on their own) so the last open groups close. Counted as frames."""
    from alpr.connectors.kafka import frame_headers

    p, data = producer(bootstrap), blank_jpeg()
    for part in range(partitions):
        f = Frame(f"tick-{part}", agency, int(capture_ts), capture_ts, data, source="tick")
        p.produce(topic, key=f.camera_id.encode(), value=data, headers=frame_headers(f), partition=part)
    assert p.flush(30) == 0
    return partitions


def publish_hotlist(bootstrap: str, topic: str, entries: Sequence[HotlistEntry] = (),
                    removes: Sequence[str] = ()) -> None:
    p = producer(bootstrap)
    for e in entries:
        c = HotlistChange("upsert", e.entry_id, e, ts=time.time(), reason="add")
        p.produce(topic, key=e.entry_id.encode(), value=c.to_json().encode())
    for eid in removes:
        p.produce(topic, key=eid.encode(), value=None)  # tombstone
    assert p.flush(30) == 0


def read_topic(bootstrap: str, topic: str, idle_s: float = 3.0, committed: bool = True, max_wait_s: float = 60,
               expect: Optional[int] = None) -> list:
    """Every message of ``topic`` (isolation.level read_committed unless ``committed=False``):
    stops after ``idle_s`` of silence once ``expect`` messages (if given) are in, or at ``max_wait_s``."""
    from confluent_kafka import Consumer

    c = Consumer(with_credentials({"bootstrap.servers": bootstrap, "group.id": f"t-{time.time_ns()}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False,
                  "isolation.level": "read_committed" if committed else "read_uncommitted"}))
    c.subscribe([topic])
    out, last, t0 = [], time.time(), time.time()
    try:
        while time.time() - t0 < max_wait_s:
            m = c.poll(0.3)
            if m is None or m.error():
                if time.time() - last > idle_s and (expect is None or len(out) >= expect):
                    break
                continue
            out.append(m)
            last = time.time()
    finally:
        c.close()
    return out


def alerts_of(msgs) -> list[Alert]:
    return [Alert.from_json(m.value()) for m in msgs]


def hit_entries(plates: Sequence[str], agency: str = "DHSPD") -> list[HotlistEntry]:
    return [HotlistEntry(entry_id=stable_id("flink-test", p), plate=p, list_code="V", list_name="Stolen Vehicle",
                         priority=10, source="ncic", match_strategy="lenient", created_ts=time.time())
            for p in plates]


@dataclass
class JobRun:
    jid: str
    rest: object

    def metric(self, vertex: str, name: str) -> float:
        return self.rest.operator_metric(self.jid, vertex, name)

    def wait_metric(self, vertex: str, name: str, at_least: float, timeout: float = 180) -> float:
        deadline, v = time.monotonic() + timeout, 0.0
        while time.monotonic() < deadline:
            v = self.metric(vertex, name)
            if v >= at_least:
                return v
            st = self.rest.state(self.jid)
            if st in ("FAILED", "CANCELED", "FINISHED"):
                raise AssertionError(f"job {st}: {self.rest.exceptions(self.jid)}")
            time.sleep(1.0)
        raise AssertionError(f"{vertex}.{name} = {v} < {at_least} after {timeout:.0f} s")


# --------------------------------------------------------------------------- isolation per test
def make_topics(bootstrap: str, prefix: str, partitions: int = 2) -> dict[str, str]:
    """Fresh frames/alerts/deadletter/hotlist topics for one test (hotlist compacted, 1 partition)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    names = {role: f"{prefix}-{role}" for role in ("frames", "alerts", "deadletter", "hotlist")}
    admin = AdminClient(with_credentials({"bootstrap.servers": bootstrap}))
    new = [NewTopic(n, 1 if role == "hotlist" else partitions, 1,
                    config={"cleanup.policy": "compact"} if role == "hotlist" else {})
           for role, n in names.items()]
    for fut in admin.create_topics(new).values():
        fut.result(30)
    return names


@dataclass(frozen=True)
class FlinkJobSetup:
    """What a Flink job run on the test services needs: its name, fresh topics and the settings."""

    run_id: str
    name: str
    topics: dict
    store_url: str
    parallelism: int
    settings: object


def flink_job_setup(prefix: str, kafka_service, cassandra_service, flink_service, **overrides) -> FlinkJobSetup:
    """Fresh topics ``<prefix>-<run>-*`` and the settings of a job on the test cluster: Kafka source
    and sinks, Cassandra store (writes retried for 240 s), parallelism up to 2; ``overrides`` go to
    :func:`alpr.config.load_settings` (agency, inference, ...)."""
    import uuid

    from alpr.config import KafkaConfig, load_settings

    run_id = uuid.uuid4().hex[:8]
    topics = make_topics(kafka_service.bootstrap, f"{prefix}-{run_id}", partitions=2)
    kafka = KafkaConfig(bootstrap=kafka_service.bootstrap, frames_topic=topics["frames"],
                        alerts_topic=topics["alerts"], deadletter_topic=topics["deadletter"],
                        hotlist_topic=topics["hotlist"], group_id=f"alpr-{prefix}-{run_id}")
    store_url = (f"cassandra://{cassandra_service.host}:{cassandra_service.port}/{cassandra_service.keyspace}"
                 "?retry_budget_s=240")
    parallelism = min(2, flink_service.taskmanagers * flink_service.task_slots)
    opts = dict(runner="flink", flink_master=flink_service.master, parallelism=parallelism, source="kafka",
                store=store_url, alerts_sink="kafka", deadletter_sink="kafka")
    opts.update(overrides)
    return FlinkJobSetup(run_id, f"alpr-{prefix}-{run_id}", topics, store_url, parallelism,
                         load_settings(**opts).replace(kafka=kafka))


def make_keyspace(host: str, port: int, keyspace: str) -> str:
    """The project's schema in a keyspace of its own; returns the store spec."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    infra = Path(__file__).resolve().parents[1] / "infra"
    env, secrets = dict(os.environ), os.environ.get("ALPR_CASSANDRA__PASSWORD_FILE")
    if secrets:  # closed Cassandra: the schema as alpr_admin, then the application role's grants on it
        secrets = str(Path(secrets).parent)
        env.update(ALPR_CASSANDRA__USERNAME="alpr_admin",
                   ALPR_CASSANDRA__PASSWORD_FILE=f"{secrets}/cassandra-alpr_admin.password")
    subprocess.run([sys.executable, str(infra / "svcctl.py"), "cassandra-schema", "--host", host, "--port", str(port),
                    "--file", str(infra / "cassandra" / "schema.cql"), "--keyspace", keyspace], check=True, timeout=300,
                   env=env)
    if secrets:
        subprocess.run([sys.executable, str(infra / "svcauth.py"), "cassandra-setup", "--host", host, "--port", str(port),
                        "--secrets", secrets, "--keyspace", keyspace, "--timeout", "60", "--grants"], check=True,
                       timeout=300)
    return f"cassandra://{host}:{port}/{keyspace}"


def job_env(bootstrap: str, topics: dict[str, str], store: str, group_id: str, **extra) -> dict[str, str]:
    """``ALPR_*`` settings for the Flink job (it loads its settings from the environment)."""
    import os

    keep = ("ALPR_CACHE", "ALPR_KAFKA__SASL_", "ALPR_KAFKA__SECURITY_PROTOCOL", "ALPR_CASSANDRA__")  # + credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_") or k.startswith(keep)}
    env.update({"ALPR_STORE": store, "ALPR_INFERENCE": extra.pop("inference", "onnx"), "ALPR_ALERTS_SINK": "kafka",
                "ALPR_DEADLETTER_SINK": "kafka", "ALPR_KAFKA__BOOTSTRAP": bootstrap,
                "ALPR_KAFKA__FRAMES_TOPIC": topics["frames"], "ALPR_KAFKA__ALERTS_TOPIC": topics["alerts"],
                "ALPR_KAFKA__DEADLETTER_TOPIC": topics["deadletter"], "ALPR_KAFKA__HOTLIST_TOPIC": topics["hotlist"],
                "ALPR_KAFKA__GROUP_ID": group_id})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def wait_for(fn, ok, timeout: float = 240, every: float = 2.0, what: str = "condition"):
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = fn()
        if ok(last):
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not reached after {timeout:.0f} s (last: {last!r})"[:2000])


def cancel_job(rest, jid: str, *closing) -> None:
    """Cancel the job and wait until it is CANCELED; close ``closing`` (store, publisher) whatever happens."""
    try:
        rest.cancel(jid)
        rest.wait_state(jid, {"CANCELED"}, timeout=120)
    finally:
        for c in closing:
            c.close()
