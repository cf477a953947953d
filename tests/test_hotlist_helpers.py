"""AlertDeduper, ReloadingMatcher and retro_search against the SQLite store."""

import pickle

from alpr.connectors.stores.sqlite import SqliteStore
from alpr.hotlist.dedupe import AlertDeduper
from alpr.hotlist.reload import ReloadingMatcher
from alpr.hotlist.retro import narrowing_pattern, retro_search
from alpr.records import Alert, Candidate, HotlistEntry, PlateRead

DAY = 86400


def E(plate, **kw):
    kw.setdefault("list_code", "T")
    return HotlistEntry(entry_id=kw.pop("entry_id", plate), plate=plate, **kw)


def test_dedupe_one_alert_per_window_per_key():
    d = AlertDeduper(60)
    assert d.should_alert("cam1", "e1", "ABC123", 1000.0)
    assert not d.should_alert("cam1", "e1", "A8C123", 1010.0)  # OCR variant of the same read
    assert not d.should_alert("cam1", "e1", "abc-123", 1059.0)
    assert d.should_alert("cam2", "e1", "ABC123", 1010.0)  # other camera
    assert d.should_alert("cam1", "e2", "ABC123", 1010.0)  # other entry
    assert d.should_alert("cam1", "e1", "ABC123", 1060.0)  # window over
    assert d.suppressed == 2
    d2 = pickle.loads(pickle.dumps(d))
    assert not d2.should_alert("cam1", "e1", "ABC123", 1061.0)
    assert d.evict(2000.0) == 3 and len(d) == 0


def test_dedupe_admit_alert_by_agency():
    d = AlertDeduper(30)
    a = Alert(alert_id="a", group_id="g", camera_id="c1", agency="SLPD", capture_ts=5.0, read_plate="ABC123",
              entry_plate="ABC123", entry_id="e", list_code="V", list_name="Stolen", match_type="exact", distance=0)
    b = Alert.from_dict({**a.to_dict(), "alert_id": "b", "camera_id": "c2", "capture_ts": 10.0})
    assert d.admit(a, by="agency") and not d.admit(b, by="agency")
    assert AlertDeduper(30).admit(a) and AlertDeduper(30).admit(b)


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def test_reloading_matcher_version_change_and_expiry():
    store = SqliteStore(":memory:")
    store.upsert_entries([E("ABC123"), E("TMP999", expires_at=1500.0)])
    clock = Clock(1000.0)
    rm = ReloadingMatcher(store, refresh_s=30, clock=clock)
    m1 = rm.matcher()
    assert m1.match("ABC123", now=1000.0) and m1.match("TMP999", now=1000.0) and rm.reloads == 1
    store.upsert_entries([E("NEW777")])
    clock.t = 1010.0
    assert rm.matcher() is m1  # not re-checked before refresh_s
    clock.t = 1031.0
    m2 = rm.matcher()
    assert m2 is not m1 and m2.match("NEW777", now=1031.0) and rm.reloads == 2
    clock.t = 1062.0
    assert rm.matcher() is m2  # version unchanged
    clock.t = 1500.0
    m3 = rm.matcher()  # earliest expiry passed -> rebuilt without the entry
    assert m3 is not m2 and len(m3) == 2 and rm.reloads == 3
    store.close()


def _read(i, plate, ts, cands=()):
    return PlateRead(read_id=f"r{i}", frame_id=f"f{i}", camera_id="cam1", agency="SLPD", capture_ts=ts, plate=plate,
                     confidence=90.0, coordinates=((0, 0), (1, 0), (1, 1), (0, 1)), candidates=tuple(cands))


def test_retro_search_with_sqlite(tmp_path):
    store = SqliteStore(tmp_path / "r.db")
    now = 1_000_000.0
    reads = [_read(0, "ABC123", now - 10 * DAY), _read(1, "A8C123", now - 3600),
             _read(2, "ABC12", now - 60), _read(3, "XYZ999", now - 50),
             _read(4, "QQQ111", now - 40, [Candidate("QQQ111", 90), Candidate("ABC123", 80)]),
             _read(5, "ABC123", now - 30)]
    store.put_reads(reads, ttl_s=400 * DAY)
    lenient = E("ABC123", match_strategy="lenient")
    got = retro_search(store, lenient, lookback_s=7 * DAY, now=now, page_size=2)
    assert [(r.read_id, h.match_type) for r, h in got] == [
        ("r1", "ocr-equivalent"), ("r2", "edit"), ("r4", "exact"), ("r5", "exact")]
    exact = E("ABC123", match_strategy="exact", fuzzy=False)
    assert narrowing_pattern(exact) == "ABC123"
    assert [r.read_id for r, _ in retro_search(store, exact, 7 * DAY, now)] == ["r5"]
    wild = E("S*K3*7")
    store.put_reads([_read(6, "NSK357", now - 5)], ttl_s=400 * DAY)
    assert narrowing_pattern(wild) == "*S*K*3*7*"
    assert [r.read_id for r, h in retro_search(store, wild, DAY, now)] == ["r6"]
    ncic = E("AB0123", source="ncic", fuzzy=False)
    store.put_reads([_read(7, "ABO123", now - 4)], ttl_s=400 * DAY)
    assert narrowing_pattern(ncic) == "AB?123"
    assert [r.read_id for r, h in retro_search(store, ncic, DAY, now)] == ["r7"]
    store.close()


def test_overlong_plates_are_refused():
    from alpr.hotlist.entries import entry_problems
    from alpr.records import HotlistEntry

    assert entry_problems(HotlistEntry("e", "ABCDEFGHIJ", "V")) == []
    assert any("at most 10" in p for p in entry_problems(HotlistEntry("e", "ABCDEFGHIJK", "V")))
