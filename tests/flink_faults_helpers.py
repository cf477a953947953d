"""Helpers for tests/test_flink_faults.py: the fault-free reference, one clip per fault phase
on a long-running Flink job, and killing a TaskManager (the JVM and its Python workers)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace

from alpr.connectors.stores.base import ReadQuery
from alpr.records import Alert, stable_id
from flink_helpers import publish_frames, publish_ticks, read_topic, wait_for

try:  # SASL/SCRAM credentials of the session's Kafka clients (ALPR_KAFKA__SASL_*), where services are closed
    from alpr.connectors.auth import with_credentials
except ImportError:  # pragma: no cover - open services
    def with_credentials(config: dict) -> dict:
        return config


@dataclass(frozen=True)
class Reference:
    """A clip and what a fault-free run makes of it (camera-independent keys)."""

    frames: list    # Frames of camera "cam-ref"
    reads: list     # sorted (seq, index in frame, plate)
    groups: list    # sorted (frame_start, frame_end, best_plate, num_reads)
    alerts: list    # sorted (entry_id, read_plate, list_code, match_type)
    wanted: str     # the hotlist plate (first vehicle)
    cut: int        # a seq in the middle of the first vehicle's passage

    def seqs_with_reads(self) -> set[int]:
        return {s for s, _, _ in self.reads}


def read_key(r) -> tuple:
    index = next(i for i in range(32) if stable_id("read", r.frame_id, i, r.plate) == r.read_id)
    return (r.seq, index, r.plate)


def group_key(g) -> tuple:
    return (g.frame_start, g.frame_end, g.best_plate, g.num_reads)


def alert_key(a: Alert) -> tuple:
    return (a.entry_id, a.read_plate, a.list_code, a.match_type)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the TaskManager's Python workers and their shells)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_taskmanager(pid: int, timeout: float = 30.0) -> int:
    """SIGKILL one TaskManager JVM of this session's cluster together with its Python workers
    (what a lost container or node does); returns how many processes were killed."""
    victims = [pid, *descendants(pid)]
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return len(victims)
        time.sleep(0.1)
    raise RuntimeError(f"taskmanager {pid} still alive {timeout:.0f} s after SIGKILL")


class Phase:
    """The reference clip as a new camera and agency on the running job (agencies differ so
    that no phase's alert dedupes another's), timed after every earlier phase's ticks."""

    def __init__(self, job, name: str):
        self.job, self.ref = job, job.ref
        tag = uuid.uuid4().hex[:6]
        self.camera, self.agency = f"cam-ff-{name}-{tag}", f"AF{name[:2].upper()}{tag[:2]}"
        start = max(time.time(), job.next_start)
        shift = start - self.ref.frames[0].capture_ts
        self.frames = [replace(f, camera_id=self.camera, agency=self.agency, capture_ts=f.capture_ts + shift)
                       for f in self.ref.frames]
        self.t_start = time.monotonic()

    def part(self, lo: int = 0, hi: int = 1 << 30) -> list:
        return [f for f in self.frames if lo <= f.seq < hi]

    def publish(self, frames) -> int:
        return publish_frames(self.job.bootstrap, self.job.topics["frames"], frames)

    def end_of_stream(self) -> None:
        """Later frames on every partition (live cameras do that): the last groups close."""
        ts = self.frames[-1].capture_ts + 3 * self.job.settings.grouping.time_delta_s
        publish_ticks(self.job.bootstrap, self.job.topics["frames"], 2, ts)
        self.job.next_start = ts + 5

    def span(self) -> dict:
        return dict(start_ts=self.frames[0].capture_ts - 60, end_ts=self.frames[-1].capture_ts + 60)

    def reads(self) -> list:
        return self.job.store.search_reads(ReadQuery(camera_id=self.camera, limit=100000, **self.span()))

    def groups(self) -> list:
        return [g for g in self.job.store.get_groups(self.camera, **self.span()) if g.camera_id == self.camera]

    def alerts(self, committed: bool = True, expect=None, idle_s: float = 5.0) -> list[Alert]:
        msgs = read_topic(self.job.bootstrap, self.job.topics["alerts"], idle_s=idle_s, committed=committed,
                          max_wait_s=90, expect=expect)
        return [a for a in (Alert.from_json(m.value()) for m in msgs) if a.camera_id == self.camera]

    def dead_letters(self, stage: str = "inference") -> dict[int, object]:
        out = {}
        for d in self.job.store.get_dead_letters():
            if d.stage == stage and d.key.startswith(self.camera + ":"):
                out[int(d.key.rsplit(":", 1)[1])] = d
        return out

    def wait_reads(self, n: int, timeout: float = 240) -> list:
        return wait_for(self._alive(self.reads), lambda rs: len(rs) >= n, timeout=timeout, every=1,
                        what=f"{n} reads of {self.camera} in Cassandra")

    def wait_groups(self, n: int, timeout: float = 300) -> list:
        return wait_for(self._alive(self.groups), lambda gs: len(gs) >= n, timeout=timeout, every=2,
                        what=f"{n} closed groups of {self.camera} in Cassandra")

    def _alive(self, fn):
        def check():
            state = self.job.rest.state(self.job.jid)
            if state in ("FAILED", "CANCELED", "FINISHED", "SUSPENDED"):
                raise AssertionError(f"job {state}: {self.job.rest.exceptions(self.job.jid)}")
            return fn()
        return check

    # -- the whole-clip contract -------------------------------------------------------------
    def assert_reads_exact(self, reads=None, without: set = frozenset()) -> None:
        reads = self.reads() if reads is None else reads
        ids = Counter(r.read_id for r in reads)
        assert max(ids.values(), default=1) == 1, f"duplicate read rows: {[i for i, c in ids.items() if c > 1]}"
        got = sorted(map(read_key, reads))
        want = [k for k in self.ref.reads if k[0] not in without]
        lost, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        assert got == want, (f"{len(lost)} lost reads (seq, index) {[k[:2] for k in lost]}; "
                             f"{len(extra)} unexpected {[k[:2] for k in extra]}")

    def assert_groups_exact(self, groups=None) -> None:
        groups = self.groups() if groups is None else groups
        assert len({g.group_id for g in groups}) == len(groups), "duplicate group rows"
        got = sorted(map(group_key, groups))
        assert got == self.ref.groups, (f"groups (first, last, reads) {[(g[0], g[1], g[3]) for g in got]} != "
                                        f"reference {[(g[0], g[1], g[3]) for g in self.ref.groups]}")

    def assert_alerts_exactly_once(self) -> list[Alert]:
        """The alerts topic read committed: the reference's alerts, each exactly once; the
        store holds the same alert ids."""
        alerts = self.alerts(expect=len(self.ref.alerts))
        assert sorted(map(alert_key, alerts)) == self.ref.alerts, f"{len(alerts)} alerts, {len(self.ref.alerts)} expected"
        assert len({a.alert_id for a in alerts}) == len(alerts), "duplicate alert on the topic"
        group_ids = {g.group_id for g in self.groups()}
        assert {a.group_id for a in alerts} <= group_ids, "an alert of no stored group"
        stored = [a for a in self.job.store.get_alerts(self.agency) if a.camera_id == self.camera]
        assert sorted(a.alert_id for a in stored) == sorted(a.alert_id for a in alerts), \
            f"stored alerts {[a.alert_id for a in stored]} != topic {[a.alert_id for a in alerts]}"
        return alerts

    def assert_whole_clip(self) -> list[Alert]:
        groups = self.wait_groups(len(self.ref.groups))
        self.assert_reads_exact(self.wait_reads(len(self.ref.reads), timeout=60))
        self.assert_groups_exact(groups)
        return self.assert_alerts_exactly_once()

    def seconds(self) -> float:
        return time.monotonic() - self.t_start


def first_alert(bootstrap: str, topic: str, camera: str, committed: bool, timeout: float) -> list[Alert]:
    """The first alert of ``camera`` on ``topic`` as soon as it is there (assigned partitions,
    no group join: this is the moment to inject a fault); [] after ``timeout``."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer(with_credentials({"bootstrap.servers": bootstrap, "group.id": f"peek-{time.time_ns()}",
                                   "enable.auto.commit": False,
                                   "isolation.level": "read_committed" if committed else "read_uncommitted"}))
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = c.poll(0.05)
            if m is not None and not m.error():
                a = Alert.from_json(m.value())
                if a.camera_id == camera:
                    return [a]
        return []
    finally:
        c.close()
