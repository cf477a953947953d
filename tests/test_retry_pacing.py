"""Retries back off with jitter and log once per state change (Cassandra store, Triton backend).

No service is needed: the Cassandra driver's ``Cluster`` and ``execute_concurrent`` and
Triton's gRPC client are replaced by fakes that fail a given number of times, and the retry
loops get a fake ``sleep`` (and clock) that records the delays instead of waiting."""
from __future__ import annotations

import logging
import random

import numpy as np
import pytest

from alpr.backoff import Backoff, RetryPacer

CASSANDRA_LOG = "alpr.connectors.stores.cassandra"
TRITON_LOG = "alpr.inference.triton_backend"


class FakeTime:
    """``sleep`` records the delay and moves ``clock`` on by it."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s

    def clock(self) -> float:
        return self.now


def records(caplog, logger: str) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == logger]


def assert_jittered(delays: list[float], base: float, cap: float) -> None:
    """Each delay lies in the upper half of its exponential ceiling (equal jitter), and they are
    not the fixed schedule."""
    ceilings = [min(cap, base * 2 ** i) for i in range(len(delays))]
    for d, c in zip(delays, ceilings):
        assert c / 2 <= d <= c, (delays, ceilings)
    assert delays != ceilings


# --------------------------------------------------------------------------- the pacer itself
def test_equal_jitter_keeps_the_upper_half_of_each_ceiling():
    b = Backoff(base_s=0.2, cap_s=5.0, jitter=0.5, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(10)]
    assert_jittered(delays, 0.2, 5.0)
    assert all(d >= 2.5 for d in delays[5:])  # capped at 5 s, never below half of it
    with pytest.raises(ValueError):
        Backoff(jitter=1.5)


def test_pacer_warns_once_per_outage_and_reports_recovery_once(caplog):
    t = FakeTime()
    pacer = RetryPacer("svc", logging.getLogger("test.pacer"), sleep=t.sleep, clock=t.clock)
    with caplog.at_level(logging.DEBUG, logger="test.pacer"):
        for _call in range(3):  # three calls in one outage, each retried
            schedule = pacer.backoff()
            for _ in range(4):
                pacer.failed(schedule, "query", "refused")
        pacer.succeeded("query")
        pacer.succeeded("query")
    got = records(caplog, "test.pacer")
    assert [lvl for lvl, _ in got] == [logging.WARNING, logging.INFO]
    assert got[0][1].startswith("svc: query failed (refused); retrying with backoff")
    assert got[1][1].startswith("svc: query works again after 12 retries (")
    assert len(t.sleeps) == 12


# --------------------------------------------------------------------------- Cassandra
@pytest.fixture
def fake_cassandra(monkeypatch):
    """A ``Cluster`` whose ``connect`` fails ``connect_failures`` times, and an
    ``execute_concurrent`` whose rows fail ``write_failures`` times."""
    cassandra_cluster = pytest.importorskip("cassandra.cluster")
    import cassandra.concurrent

    state = {"connect_failures": 0, "write_failures": 0, "connects": 0, "writes": 0}

    class Session:
        def prepare(self, cql):
            return cql

    class Cluster:
        def __init__(self, *args, **kwargs):
            pass

        def connect(self, keyspace):
            state["connects"] += 1
            if state["connects"] <= state["connect_failures"]:
                raise cassandra_cluster.NoHostAvailable(
                    "Unable to connect to any servers", {"127.0.0.1:19042": ConnectionRefusedError(111, "refused")})
            return Session()

        def shutdown(self):
            pass

    def execute(session, statements_and_params, concurrency, raise_on_first_error):
        state["writes"] += 1
        ok = state["writes"] > state["write_failures"]
        return [(ok, None if ok else TimeoutError("write timed out")) for _ in statements_and_params]

    monkeypatch.setattr(cassandra_cluster, "Cluster", Cluster)
    monkeypatch.setattr(cassandra.concurrent, "execute_concurrent", execute)
    return state


def cassandra_store(t: FakeTime, **kw):
    from alpr.connectors.stores.cassandra import CassandraStore

    return CassandraStore(["127.0.0.1"], port=19042, sleep=t.sleep, clock=t.clock, **kw)


INSERT = "INSERT INTO reads_by_id (read_id) VALUES (?)"


def test_cassandra_connect_rides_out_an_outage_with_one_warning(fake_cassandra, caplog):
    fake_cassandra["connect_failures"] = 6
    t = FakeTime()
    with caplog.at_level(logging.INFO, logger=CASSANDRA_LOG):
        cassandra_store(t, retry_budget_s=60)
    got = records(caplog, CASSANDRA_LOG)
    assert [lvl for lvl, _ in got] == [logging.WARNING, logging.INFO], got
    assert "connect failed" in got[0][1] and "refused" in got[0][1]
    assert "works again after 6 retries" in got[1][1]
    assert_jittered(t.sleeps, 0.2, 5.0)


def test_cassandra_connect_gives_up_when_the_budget_is_spent(fake_cassandra, caplog):
    from cassandra.cluster import NoHostAvailable

    fake_cassandra["connect_failures"] = 10 ** 6
    t = FakeTime()
    with caplog.at_level(logging.INFO, logger=CASSANDRA_LOG), pytest.raises(NoHostAvailable):
        cassandra_store(t, retry_budget_s=30)
    assert 30 <= sum(t.sleeps) < 30 + 5.0  # the budget is seconds, whatever the jitter
    assert [lvl for lvl, _ in records(caplog, CASSANDRA_LOG)] == [logging.WARNING]
    with pytest.raises(NoHostAvailable):  # no budget: no retry, as before
        cassandra_store(FakeTime())


def test_cassandra_write_retries_then_recovers_with_one_warning_and_one_info(fake_cassandra, caplog):
    t = FakeTime()
    store = cassandra_store(t)
    fake_cassandra["write_failures"] = fake_cassandra["writes"] + 3
    with caplog.at_level(logging.INFO, logger=CASSANDRA_LOG):
        assert store._write(INSERT, [("a",), ("b",)]) == 2
    got = records(caplog, CASSANDRA_LOG)
    assert [lvl for lvl, _ in got] == [logging.WARNING, logging.INFO], got
    assert "write to reads_by_id (2 row(s)) failed (write timed out)" in got[0][1]
    assert_jittered(t.sleeps, 0.2, 5.0)
    assert len(t.sleeps) == 3


def test_cassandra_write_keeps_its_retry_count(fake_cassandra, caplog):
    t = FakeTime()
    store = cassandra_store(t, retries=5)
    fake_cassandra["write_failures"] = 10 ** 6
    with caplog.at_level(logging.INFO, logger=CASSANDRA_LOG):
        with pytest.raises(RuntimeError, match="2 write\\(s\\) failed after 5 retries"):
            store._write(INSERT, [("a",), ("b",)])
        with pytest.raises(RuntimeError):  # the next batch in the same outage: no second warning
            store._write(INSERT, [("c",)])
    assert len(t.sleeps) == 10
    assert_jittered(t.sleeps[:5], 0.2, 5.0)
    assert 3.1 <= sum(t.sleeps[:5]) <= 6.2  # half to all of the old fixed 6.2 s
    assert [lvl for lvl, _ in records(caplog, CASSANDRA_LOG)] == [logging.WARNING]


# --------------------------------------------------------------------------- Triton
@pytest.fixture
def fake_triton(monkeypatch):
    """A gRPC client whose ``infer`` answers UNAVAILABLE ``failures`` times."""
    pytest.importorskip("tritonclient.grpc")
    from tritonclient.utils import InferenceServerException

    from alpr.inference import triton_backend

    state = {"failures": 0, "infers": 0, "clients": 0}

    class Result:
        def __init__(self, n):
            self.n = n

        def as_numpy(self, name):
            return np.ones((self.n, 1, 4, 4), np.float32)

    class Client:
        def get_model_config(self, model, version, as_json, client_timeout):
            return {"config": {"max_batch_size": 8}}

        def infer(self, model, inputs, model_version, outputs, client_timeout):
            state["infers"] += 1
            if state["infers"] <= state["failures"]:
                raise InferenceServerException("failed to connect to all addresses", status="StatusCode.UNAVAILABLE")
            return Result(inputs[0].shape()[0])

        def close(self):
            pass

    def client(url, verbose):
        state["clients"] += 1
        return Client()

    monkeypatch.setattr(triton_backend, "_safe_client_class", lambda: client)
    return state


def test_triton_retries_with_jitter_and_reports_once_each_way(fake_triton, caplog):
    from alpr.inference.triton_backend import TritonBackend

    t = FakeTime()
    be = TritonBackend(url="127.0.0.1:18111", retries=3, backoff_s=0.2, max_backoff_s=5.0, sleep=t.sleep)
    fake_triton["failures"] = 3
    with caplog.at_level(logging.INFO, logger=TRITON_LOG):
        out = be.detect(np.zeros((2, 3, 32, 32), np.float32))
        be.detect(np.zeros((2, 3, 32, 32), np.float32))
    assert out.shape == (2, 1, 4, 4)
    got = records(caplog, TRITON_LOG)
    assert [lvl for lvl, _ in got] == [logging.WARNING, logging.INFO], got
    assert "UNAVAILABLE" in got[0][1] and "works again after 3 retries" in got[1][1]
    assert_jittered(t.sleeps, 0.2, 5.0)
    assert fake_triton["clients"] == 4  # a fresh channel after each failure, as before


def test_triton_gives_up_after_its_retries_and_warns_once_per_outage(fake_triton, caplog):
    from alpr.inference.triton_backend import InferenceUnavailable, TritonBackend

    t = FakeTime()
    be = TritonBackend(url="127.0.0.1:18111", retries=2, backoff_s=0.2, sleep=t.sleep)
    fake_triton["failures"] = 10 ** 6
    batch = np.zeros((1, 3, 32, 32), np.float32)
    with caplog.at_level(logging.INFO, logger=TRITON_LOG):
        for _ in range(3):  # three batches dead-lettered during one outage
            with pytest.raises(InferenceUnavailable, match="after 3 attempt"):
                be.detect(batch)
        fake_triton["failures"] = 0
        be.detect(batch)
        fake_triton["failures"], fake_triton["infers"] = 1, 0  # a second outage is reported again
        be.detect(batch)
    assert len(t.sleeps) == 3 * 2 + 1
    assert [lvl for lvl, _ in records(caplog, TRITON_LOG)] == [
        logging.WARNING, logging.INFO, logging.WARNING, logging.INFO]
