"""The Cassandra adapter answers the same queries as the embedded store (the storage port)."""
import time
import uuid

import pytest

from alpr.connectors.stores import open_store
from alpr.connectors.stores.base import HotlistStore, ReadQuery, ReadStore
from alpr.records import Alert, DeadLetter, HotlistEntry, PlateGroup, PlateRead, Candidate

pytestmark = pytest.mark.services
T0 = time.time() - 3600


def read(i, plate, cam, agency="A", ts=None):
    return PlateRead(f"r{i}-{cam}", f"{cam}:{i}", cam, agency, ts if ts is not None else T0 + i, plate, 90.0,
                     ((0, 0), (1, 0), (1, 1), (0, 1)), (Candidate(plate, 90.0), Candidate(plate[:-1] + "8", 40.0)))


@pytest.fixture(scope="module")
def store(cassandra_service):
    s = open_store(f"cassandra://{cassandra_service.host}:{cassandra_service.port}/{cassandra_service.keyspace}")
    yield s
    s.close()


@pytest.fixture
def cam():
    return f"cam-{uuid.uuid4().hex[:8]}"


def test_implements_ports(store):
    assert isinstance(store, ReadStore) and isinstance(store, HotlistStore)


def test_search_semantics_match_the_embedded_store(store, cam, tmp_path):
    reads = [read(1, "ABC123", cam), read(2, "AB123", cam), read(3, "A123", cam), read(4, "5BC12L", cam, agency="B"),
             read(5, "XYZ999", cam)]
    sqlite = open_store(f"sqlite:{tmp_path}/s.db")
    for s in (store, sqlite):
        s.put_reads(reads, ttl_s=3600)
    queries = [ReadQuery(plate_pattern="ABC123", start_ts=T0 - 10, end_ts=T0 + 100),
               ReadQuery(plate_pattern="A*123", camera_id=cam, start_ts=T0 - 10, end_ts=T0 + 100),
               ReadQuery(plate_pattern="?BC12?", camera_id=cam, agencies=["A"], start_ts=T0 - 10, end_ts=T0 + 100),
               ReadQuery(camera_id=cam, start_ts=T0 + 2, end_ts=T0 + 4)]
    for q in queries:
        got = [r for r in store.search_reads(q) if r.camera_id == cam]
        assert got == sqlite.search_reads(q), q
    assert store.search_reads(queries[0])[0].candidates[1] == Candidate("ABC128", 40.0)


def test_ttl_applies_per_row(store, cam):
    store.put_reads([read(1, "TTL2SEC", cam)], ttl_s=2)
    rid = f"r1-{cam}"
    assert 0 < store.read_expiry(rid) - time.time() <= 2
    time.sleep(3)
    assert store.read_expiry(rid) is None
    assert store.search_reads(ReadQuery(camera_id=cam, start_ts=T0 - 10, end_ts=T0 + 100)) == []


def test_groups_alerts_dead_letters_round_trip(store, cam):
    g = PlateGroup(f"g-{cam}", cam, "A", T0, T0 + 2, 0, 9, "ABC123", 91.0, "r1", (Candidate("ABC123", 91.0),),
                   ("r1", "r2"), 2)
    store.put_groups([g], ttl_s=3600)
    got = [x for x in store.get_groups(camera_id=cam, start_ts=T0 - 5, end_ts=T0 + 5)]
    assert len(got) == 1 and got[0].best_plate == "ABC123" and got[0].expires_at > time.time()
    a = Alert(f"a-{cam}", g.group_id, cam, f"AG-{cam}", T0, "ABC123", "ABC123", "e1", "V", "Stolen", "exact", 0)
    store.put_alerts([a], ttl_s=3600)
    assert store.get_alerts(agency=f"AG-{cam}") == [a]
    d = DeadLetter("decode", "empty frame", f"{cam}:7", T0, b"\x00")
    store.put_dead_letters([d], ttl_s=3600)
    assert d in store.get_dead_letters()


def test_hotlist_versioning_replace_and_expiry(store):
    tag = uuid.uuid4().hex[:6].upper()
    v0 = store.hotlist_version()
    store.upsert_entries([HotlistEntry(f"e1{tag}", "ABC123", f"L{tag}"), HotlistEntry(f"e2{tag}", "XYZ1", f"L{tag}"),
                          HotlistEntry(f"a1{tag}", "AGY1", f"L{tag}", agency="A")])
    assert store.hotlist_version() > v0
    store.replace_list(f"L{tag}", [HotlistEntry(f"e3{tag}", "NEW1", f"L{tag}", shared_with=("B",))])
    mine = {e.entry_id: e for e in store.load_entries() if e.list_code == f"L{tag}"}
    # the agency-less list was replaced; agency A's entries of the same code are untouched
    assert set(mine) == {f"e3{tag}", f"a1{tag}"} and mine[f"e3{tag}"].shared_with == ("B",)
    store.replace_list(f"L{tag}", [], agency="B")
    assert {e.entry_id for e in store.load_entries() if e.list_code == f"L{tag}"} == {f"e3{tag}", f"a1{tag}"}
    store.replace_list(f"L{tag}", [], agency="A")
    assert {e.entry_id for e in store.load_entries() if e.list_code == f"L{tag}"} == {f"e3{tag}"}
    store.upsert_entries([HotlistEntry(f"e4{tag}", "EXP1", f"L{tag}", expires_at=time.time() - 1)])
    assert f"e4{tag}" not in {e.entry_id for e in store.load_entries()}
    assert store.remove_entries([f"e3{tag}", "missing"]) == 1
