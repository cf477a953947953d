"""Hotlist changes reach the running matching step within ``hotlist_refresh_s``, without a restart:
added entries start hitting, removed ones stop, expiring ones stop at their expiry."""
import time

from alpr.config import load_settings
from alpr.connectors.stores import open_store
from alpr.pipelines.transforms import _MatchFn
from alpr.records import Candidate, HotlistEntry, PlateGroup


def group(plate: str, n: int) -> PlateGroup:
    return PlateGroup(f"g{n}", "cam", "AG", 1000.0 + n, 1001.0 + n, 0, 3, plate, 95.0, "r",
                      (Candidate(plate, 95.0),), ("r1", "r2", "r3"), 3)


def test_live_add_remove_and_expiry_without_restart(tmp_path):
    settings = load_settings(store=f"sqlite:{tmp_path}/h.db", hotlist_refresh_s=1.0)
    admin = open_store(settings.store)
    admin.upsert_entries([HotlistEntry("e-old", "OLD1234", "V")])
    fn = _MatchFn(settings)
    fn.setup()  # the running worker: index loaded once here
    hits = lambda plate, n: sorted(a.entry_id for a in fn.process(group(plate, n)))
    try:
        assert hits("OLD1234", 1) == ["e-old"] and hits("NEW5678", 2) == []
        # an analyst adds an entry, removes another, and a third expires in 2.5 s
        admin.upsert_entries([HotlistEntry("e-new", "NEW5678", "F"),
                              HotlistEntry("e-exp", "EXP4321", "F", expires_at=time.time() + 2.5)])
        admin.remove_entries(["e-old"])
        assert hits("NEW5678", 3) == []  # within the refresh interval the old index still serves
        time.sleep(1.1)
        assert hits("NEW5678", 4) == ["e-new"]
        assert hits("OLD1234", 5) == []
        assert hits("EXP4321", 6) == ["e-exp"]
        time.sleep(1.6)
        assert hits("EXP4321", 7) == []
        assert fn._reloader.reloads >= 2
    finally:
        fn.teardown()
        admin.close()
