"""Engine-neutral matching: the incremental hotlist snapshot, agency scope, what an alert shows,
and the alert dedupe state."""
import pickle

import pytest

from alpr.config import GroupingConfig
from alpr.pipelines.core.dedupe import DedupeStage, dedupe_key
from alpr.pipelines.core.grouping import GroupingStage, build_group
from alpr.pipelines.core.matching import HotlistSnapshot, MatchStage
from alpr.records import HotlistChange, HotlistEntry

from core_helpers import passage, read


def E(entry_id, plate, **kw):
    kw.setdefault("list_code", "V")
    return HotlistEntry(entry_id=entry_id, plate=plate, **kw)


def up(e):
    return HotlistChange("upsert", e.entry_id, e, reason="add")


def rm(entry_id):
    return HotlistChange("remove", entry_id, reason="remove")


def group_of(plate, agency="AG-A", cam="cam-1", n=3):
    return build_group([read(plate, 100.0 + i, 95.0, cam=cam, agency=agency, seq=i) for i in range(n)])


def ids(snapshot, plate):
    return sorted(h.entry.entry_id for h in snapshot.match_candidates([(plate, 95.0)], best_plate=plate))


def test_snapshot_applies_changes_without_rebuilding_the_base():
    base = HotlistSnapshot.from_entries([E("a", "AAA111"), E("b", "BBB222")])
    s1 = base.apply(up(E("c", "CCC333")))
    assert s1.base is base.base and ids(s1, "CCC333") == ["c"] and ids(base, "CCC333") == []
    s2 = s1.apply(rm("a"))
    assert s2.base is base.base and ids(s2, "AAA111") == [] and ids(s1, "AAA111") == ["a"]
    # an upsert of an entry of the base replaces it (new plate), the old plate stops hitting
    s3 = s2.apply(up(E("b", "BBB999")))
    assert ids(s3, "BBB222") == [] and ids(s3, "BBB999") == ["b"] and s3.version == 3
    assert sorted(e.entry_id for e in s3.entries()) == ["b", "c"]
    # removing an overlay entry, and re-adding a removed one
    s4 = s3.apply(rm("c")).apply(up(E("a", "AAA111")))
    assert ids(s4, "CCC333") == [] and ids(s4, "AAA111") == ["a"]
    # a pickled snapshot (Flink broadcast state / Beam) matches the same
    assert ids(pickle.loads(pickle.dumps(s4)), "AAA111") == ["a"]


def test_snapshot_compacts_when_the_overlay_grows():
    snap = HotlistSnapshot.from_entries([E("a", "AAA111")], compact_at=3)
    s = snap.apply_all([up(E(f"n{i}", p)) for i, p in enumerate(["KLM432", "NEW100", "PQR765"])])
    assert s.base is not snap.base and s.overlay == () and len(s) == 4 and ids(s, "NEW100") == ["n1"]


def test_expired_entries_stop_matching_at_their_expiry():
    snap = HotlistSnapshot().apply(up(E("x", "EXP123", expires_at=500.0)))
    stage = MatchStage(lambda: snap)
    g = group_of("EXP123")
    assert [a.entry_id for a in stage.alerts(g, now=499.0)] == ["x"]
    assert stage.alerts(g, now=500.0) == []


def test_exact_only_entries_in_the_live_snapshot():
    snap = HotlistSnapshot().apply(up(E("x", "XYZ789", match_strategy="exact")))
    assert ids(snap, "XYZ78B") == [] and ids(snap, "XYZ789") == ["x"]


ENTRIES = [
    E("own", "OWN111", agency="AG-A", covert=True, description="surveillance, armed", case_number="A-26-1",
      source="agency", expires_at=10 ** 10),
    E("shared", "SHR222", agency="AG-A", shared_with=("AG-B",), description="robbery", case_number="A-26-2",
      source="agency", expires_at=10 ** 10),
    E("ncic", "NCI333", source="ncic", description="NCIC stolen", case_number="N-1"),  # the NCIC feed: no owner
    E("state", "STA444", description="state list", case_number="S-1", source="csv"),
    # an agency's own entry labelled as NCIC/CLETS-sourced stays that agency's (the source is the agency's say)
    E("own-clets", "CLT555", agency="AG-A", source="clets", description="covert, CLETS", case_number="A-26-3",
      expires_at=10 ** 10),
]


@pytest.mark.parametrize("plate,agency,want", [
    ("OWN111", "AG-A", ["own"]), ("OWN111", "AG-B", []),          # own entries: own cameras only
    ("SHR222", "AG-B", ["shared"]), ("SHR222", "AG-C", []),       # extended by sharing to AG-B only
    ("NCI333", "AG-C", ["ncic"]), ("STA444", "AG-C", ["state"]),  # NCIC and state feeds: everyone
    ("CLT555", "AG-A", ["own-clets"]), ("CLT555", "AG-B", []),    # a source label never makes an entry global
])
def test_agency_scoped_matching(plate, agency, want):
    stage = MatchStage(lambda: HotlistSnapshot.from_entries(ENTRIES))
    assert [a.entry_id for a in stage.alerts(group_of(plate, agency=agency))] == want


def test_agreements_extend_an_agencys_entries():
    snap = HotlistSnapshot.from_entries(ENTRIES)
    agreements = {("AG-A", "AG-C")}
    stage = MatchStage(lambda: snap, agreements=lambda owner, cam: (owner, cam) in agreements)
    assert [a.entry_id for a in stage.alerts(group_of("OWN111", agency="AG-C"))] == ["own"]
    assert stage.alerts(group_of("OWN111", agency="AG-D")) == []


def test_an_alert_shows_the_receiving_agency_only_what_it_may_see():
    stage = MatchStage(lambda: HotlistSnapshot.from_entries(ENTRIES))
    (mine,) = stage.alerts(group_of("SHR222", agency="AG-A"))
    assert (mine.description, mine.case_number, mine.agency) == ("robbery", "A-26-2", "AG-A")
    (theirs,) = stage.alerts(group_of("SHR222", agency="AG-B"))
    assert (theirs.description, theirs.case_number) == ("", "")
    assert (theirs.agency, theirs.entry_agency, theirs.entry_plate) == ("AG-B", "AG-A", "SHR222")
    (ncic,) = stage.alerts(group_of("NCI333", agency="AG-B"))
    assert ncic.description == "NCIC stolen"
    # an agency entry labelled "clets", extended to AG-B by an agreement, is still redacted for AG-B
    agreed = MatchStage(lambda: HotlistSnapshot.from_entries(ENTRIES), agreements=lambda owner, cam: True)
    (clets,) = agreed.alerts(group_of("CLT555", agency="AG-B"))
    assert (clets.description, clets.case_number, clets.entry_agency) == ("", "", "AG-A")


def test_dedupe_one_alert_per_entry_per_vehicle():
    snap = HotlistSnapshot.from_entries([E("v", "ABC123")])
    stage, dd = MatchStage(lambda: snap), DedupeStage(600.0)
    g1 = group_of("ABC123")
    (a,) = stage.alerts(g1)
    state, emit = dd.dedupe(None, a)
    assert emit
    # the same group, updated by a better later read (an OCR-equivalent best plate): suppressed
    (again,) = stage.alerts(build_group([read("ABC123", 100.0 + i, 99.0, seq=i) for i in range(5)]))
    assert again.group_id == g1.group_id
    state, emit = dd.dedupe(state, again)
    assert not emit
    # the same car in a new group a minute later: suppressed; an hour later: a new alert
    later = stage.alerts(build_group([read("A8C123", 160.0 + i, 95.0, seq=50 + i) for i in range(3)]))[0]
    assert later.group_id != g1.group_id
    state, emit = dd.dedupe(pickle.loads(pickle.dumps(state)), later)
    assert not emit
    hour = stage.alerts(build_group([read("ABC123", 3700.0 + i, 95.0, seq=90 + i) for i in range(3)]))[0]
    state, emit = dd.dedupe(state, hour)
    assert emit and dd.expires_at(state) == 3700.0 + 600.0
    assert dedupe_key(a) == "AG-A|v"


def _alerts(stage, matcher, dd, steps):
    out, dstate = [], {}
    for s in steps:
        for g in s.confirmed:
            for a in matcher.alerts(g, emitted_ts=0.0):
                k = dedupe_key(a)
                dstate[k], emit = dd.dedupe(dstate.get(k), a)
                if emit:
                    out.append((a.alert_id, a.group_id, a.entry_id, a.read_plate))
    return out


def test_first_confident_hit_alerts_at_once_and_only_once_however_the_input_is_split():
    cfg = GroupingConfig(time_delta_s=2.0, min_reads=2, min_confidence=80.0, max_delay_s=30.0)
    snap = HotlistSnapshot.from_entries([E("v", "KN52600"), E("w", "RJ77410")])
    matcher, dd, grouping = MatchStage(lambda: snap), DedupeStage(600.0), GroupingStage(cfg)
    reads = sorted(passage("KN52600", 0.0, n=12) + passage("RJ77410", 4.0, n=12, seq0=100) +
                   passage("UXC2121", 8.0, n=12, seq0=200), key=lambda r: r.capture_ts)
    # read by read: the alert comes out as soon as the open group is confirmed
    state, steps = None, []
    for r in reads:
        step = grouping.on_read(state, r)
        state = step.state
        steps.append(step)
    first = next(i for i, s in enumerate(steps) if _alerts(grouping, matcher, dd, [s]))
    # (seq 0 is a partial read as the car enters; seq 1 is the first full read: 2 reads, 95%)
    assert reads[first].plate == "KN52600" and reads[first].seq == 1 and steps[first].closed == []
    whole = _alerts(grouping, matcher, dd, steps)
    assert sorted(e for _, _, e, _ in whole) == ["v", "w"]
    # the same reads in two halves with a pause and a checkpoint in between
    cut = 17
    a = grouping.run(reads[:cut], until=reads[cut - 1].capture_ts)
    b = grouping.run(reads[cut:], state=pickle.loads(pickle.dumps(a.state)))
    assert _alerts(grouping, matcher, dd, [a, b]) == whole
    assert sorted(g.group_id for g in a.closed + b.closed) == sorted(
        g.group_id for g in grouping.run(reads).closed)
