import time

import pytest

from alpr.connectors.stores import open_store
from alpr.connectors.stores.base import HotlistStore, ReadQuery, ReadStore, plate_pattern_regex
from alpr.records import Alert, DeadLetter, HotlistEntry, PlateRead


def read(i, plate, cam="cam-1", agency="A", ts=None):
    return PlateRead(f"r{i}", f"{cam}:{i}", cam, agency, ts if ts is not None else 1000.0 + i, plate, 90.0,
                     ((0, 0), (1, 0), (1, 1), (0, 1)))


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:{tmp_path}/t.db")
    yield s
    s.close()


def test_implements_ports(store):
    assert isinstance(store, ReadStore) and isinstance(store, HotlistStore)


def test_search_by_plate_pattern_camera_time_and_agency(store):
    store.put_reads([read(1, "ABC123"), read(2, "AB123"), read(3, "A123", cam="cam-2"),
                     read(4, "5BC12L", agency="B"), read(5, "XYZ999")], ttl_s=3600)
    plates = lambda q: sorted(r.plate for r in store.search_reads(q))
    assert plates(ReadQuery(plate_pattern="abc-123")) == ["ABC123"]
    assert plates(ReadQuery(plate_pattern="A*123")) == ["A123", "AB123", "ABC123"]
    assert plates(ReadQuery(plate_pattern="?BC12?")) == ["5BC12L", "ABC123"]
    assert plates(ReadQuery(plate_pattern="?BC12?", agencies=["A"])) == ["ABC123"]
    assert plates(ReadQuery(agencies=[])) == []
    assert plates(ReadQuery(camera_id="cam-2")) == ["A123"]
    assert plates(ReadQuery(start_ts=1002, end_ts=1004)) == ["5BC12L", "A123", "AB123"]


def test_pattern_regex():
    assert plate_pattern_regex("A*123").match("A123")
    assert not plate_pattern_regex("?BC12?").match("BC123")
    with pytest.raises(ValueError):
        plate_pattern_regex("--")


def test_ttl_expiry_hides_and_purge_deletes(store):
    store.put_reads([read(1, "OLD1")], ttl_s=1)
    store.put_reads([read(2, "NEW2")], ttl_s=3600)
    store.put_alerts([Alert("a1", "g", "cam-1", "A", 1.0, "OLD1", "OLD1", "e", "V", "", "exact", 0)], ttl_s=1)
    store.put_dead_letters([DeadLetter("decode", "bad", "k", 1.0)], ttl_s=1)
    exp = store.read_expiry("r2")
    assert exp is not None and exp > time.time() + 3500
    assert store.purge_expired(now=time.time() + 2) == 3
    assert [r.plate for r in store.search_reads(ReadQuery())] == ["NEW2"]
    assert store.read_expiry("r1") is None
    with pytest.raises(ValueError):
        store.put_reads([read(3, "X")], ttl_s=0)


def test_hotlist_version_and_replace(store):
    assert store.hotlist_version() == 0
    store.upsert_entries([HotlistEntry("e1", "ABC123", "V"), HotlistEntry("e2", "XYZ1", "F")])
    v1 = store.hotlist_version()
    store.replace_list("V", [HotlistEntry("e3", "NEW1", "V")])
    assert store.hotlist_version() > v1
    assert sorted(e.entry_id for e in store.load_entries()) == ["e2", "e3"]
    store.upsert_entries([HotlistEntry("e4", "EXP1", "F", expires_at=time.time() - 1)])
    assert "e4" not in {e.entry_id for e in store.load_entries()}
    assert store.remove_entries(["e2", "missing"]) == 1
    assert [e.entry_id for e in store.load_entries()] == ["e3"]


def test_replace_list_is_scoped_to_one_agencys_list(store):
    """Issue 12 item 1: a list code is per agency; one agency's replace never touches another's
    entries of the same code, nor the agency-less state feed of that code."""
    store.upsert_entries([HotlistEntry("a1", "AAA111", "HOT", agency="A"), HotlistEntry("a2", "AAA222", "HOT", agency="A"),
                          HotlistEntry("f1", "FFF111", "HOT")])
    assert store.replace_list("HOT", [HotlistEntry("b1", "BBB111", "HOT", agency="B")], agency="B") == 1
    assert store.replace_list("HOT", [], agency="B") == 0
    assert sorted(e.entry_id for e in store.load_entries()) == ["a1", "a2", "f1"]
    store.replace_list("HOT", [HotlistEntry("a3", "AAA333", "HOT", agency="A")], agency="A")
    assert sorted(e.entry_id for e in store.load_entries()) == ["a3", "f1"]
    store.replace_list("HOT", [])  # the state feed of that code: agency ""
    assert [e.entry_id for e in store.load_entries()] == ["a3"]
    for stray in (HotlistEntry("x", "XXX1", "HOT", agency="A"), HotlistEntry("y", "YYY1", "OTHER", agency="B")):
        with pytest.raises(ValueError, match="another list or agency"):
            store.replace_list("HOT", [stray], agency="B")
    assert [e.entry_id for e in store.load_entries()] == ["a3"]


def test_unknown_spec():
    with pytest.raises(ValueError, match="unknown store"):
        open_store("mongo://x")
