"""C index (alpr.hotlist._fastmatch) vs the pure-Python index: identical hits, same order.

Every test that needs the extension skips when it is not built, except
``test_extension_is_built``, which fails then (set ALPR_HOTLIST_ALLOW_PURE_PYTHON=1 to
accept a build without a C compiler).
"""

import logging
import os
import pickle
import random
import string
from dataclasses import FrozenInstanceError

import pytest

from alpr.hotlist import HotlistMatcher, matcher as matcher_mod
from alpr.hotlist.matcher import Hit
from alpr.hotlist.synth import ncic_like_entries, ocr_noise
from alpr.records import Candidate, HotlistEntry

BUILT = matcher_mod._fastmatch is not None
needs_c = pytest.mark.skipif(not BUILT, reason="alpr.hotlist._fastmatch not built")
PATHS = [pytest.param(True, marks=needs_c, id="c"), pytest.param(False, id="python")]
AN = string.ascii_uppercase + string.digits


def E(plate, **kw):
    kw.setdefault("list_code", "T")
    return HotlistEntry(entry_id=kw.pop("entry_id", plate), plate=plate, **kw)


def random_entries(rng, n):
    out = []
    for e in ncic_like_entries(n, seed=rng.randrange(10**6), source="csv"):
        plate, r = e.plate, rng.random()
        if r < 0.05:
            plate = plate[: rng.randrange(1, 3)]  # one- and two-character plates
        elif r < 0.08:
            plate = plate.lower()  # normalised by build
        elif r < 0.10:
            plate = plate[:3] + "-" + plate[3:]
        elif r < 0.12:
            plate = plate[:2] + "*" + plate[3:]  # wildcard entry
        elif r < 0.14:
            plate = plate * 3  # longer than the C record's inline plate
        elif r < 0.18 and out:
            plate = rng.choice(out).plate  # same plate on several entries
        out.append(HotlistEntry(
            entry_id=rng.choice([e.entry_id, e.entry_id, f"dup{rng.randrange(5)}"]), plate=plate,
            list_code=e.list_code, source=rng.choice(["csv", "ncic", "NCIC", "clets", "agency"]),
            expires_at=rng.choice([None, None, 500.0, 1500.0, 1000]), priority=rng.choice([10, 50, 50, 90]),
            fuzzy=rng.random() < 0.8, max_ocr_subs=rng.choice([0, 1, 1, 2]), max_edits=rng.choice([0, 1, 1]),
            match_strategy=rng.choice(["exact", "lenient"])))
    return out


def random_reads(rng, entries, n):
    reads = []
    for _ in range(n):
        p, r = rng.choice(entries).plate.replace("*", rng.choice(AN)), rng.random()
        if r < 0.45:
            p = ocr_noise(rng, p)
        elif r < 0.55:
            p = ocr_noise(rng, ocr_noise(rng, p))
        elif r < 0.60:
            p = p.lower()
        elif r < 0.63:
            p = p[:2] + " " + p[2:] + "!"
        elif r < 0.66:
            p = p[:2] + rng.choice("ıſÄßé€") + p[2:]  # non-ASCII: str.upper/translate semantics
        elif r < 0.68:
            p = rng.choice(["", "-", "A", "ÄÖ", "ab", "0", "O"])
        elif r < 0.70:
            p = p * 30  # longer than the C stack buffers
        reads.append(p)
    return reads


def signature(m, hits):
    pos = {id(e): i for i, e in enumerate(m.entries)}
    return [(pos[id(h.entry)], h.read_plate, h.match_type, h.distance, h.aligned) for h in hits]


@needs_c
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_c_and_python_identical_on_random_corpus(seed):
    rng = random.Random(seed)
    total = 0
    for size in (5, 60, 700):
        entries = random_entries(rng, size)
        table = rng.choice([None, ("8B", "HM"), ("0ODQ", "1I", "2Z", "5S", "8B", "6G", "EF")])
        kw = {} if table is None else {"ocr_table": table}
        fast, slow = HotlistMatcher.build(entries, accel=True, **kw), HotlistMatcher.build(entries, accel=False, **kw)
        assert fast.accelerated and not slow.accelerated
        assert len(fast) == len(slow) and [r for _, r in fast.rejected] == [r for _, r in slow.rejected]
        for read in random_reads(rng, entries, 300):
            now = rng.choice([None, 999.0, 1000.0, 1200, 2000.0])
            got, want = fast.match(read, now=now), slow.match(read, now=now)
            assert signature(fast, got) == signature(slow, want), (read, now)
            assert signature(fast, fast.lookup(read, now)) == signature(slow, slow.lookup(read, now)), read
            every = fast._match_all(read, now=now)  # before exact-only entries drop their fuzzy hits
            assert signature(fast, every) == signature(slow, slow._match_all(read, now=now)), (read, now)
            total += len(every)
    assert total > 300  # the corpus really produces hits


@needs_c
def test_many_hits_order_and_dedupe_match_python():
    """Dozens of entries on one plate (past the C insertion sort and linear dedupe sizes)."""
    rng = random.Random(3)
    entries = [E("ABC123", entry_id=f"id{rng.randrange(20):02d}", priority=rng.choice([5, 50, 90]),
                 max_ocr_subs=rng.choice([0, 1, 2])) for _ in range(80)]
    entries += [E(p, entry_id=f"n{p}") for p in ("ABC12", "ABC1234", "A8C123", "XBC123", "ABC1Z3")]
    fast, slow = HotlistMatcher.build(entries, accel=True), HotlistMatcher.build(entries, accel=False)
    for read in ("ABC123", "A8C123", "A8C1Z3", "ABC12", "ABCI23", "ABC1233", "XBC12"):
        got, want = fast.match(read), slow.match(read)
        assert len(got) > 32 or read in ("XBC12",)
        assert signature(fast, got) == signature(slow, want), read
        assert len({id(h.entry) for h in got}) == len(got)  # one hit per entry


@pytest.mark.parametrize("accel", PATHS)
def test_rules_on_both_paths(accel):
    m = HotlistMatcher.build([E("ABC123", max_edits=0), E("A8C123", max_edits=0), E("FHG521"),
                              E("AB0123", source="ncic", fuzzy=False), E("S*K3*7"), E("XYZ789", fuzzy=False),
                              E("OLD111", expires_at=1000.0)], accel=accel)
    assert m.accelerated is accel
    got = {h.entry.plate: (h.match_type, h.distance, h.aligned) for h in m.match("ABC123")}
    assert got == {"ABC123": ("exact", 0, "ABC123~ABC123"), "A8C123": ("ocr-equivalent", 1, "ABC123~A8C123")}
    (h,) = m.match("fhg-52")
    assert (h.read_plate, h.match_type, h.distance, h.aligned) == ("FHG52", "edit", 1, "FHG52-~FHG521")
    (h,) = m.match("FHG5211")
    assert h.aligned == "FHG5211~FHG52-1"
    assert [(h.entry.plate, h.match_type) for h in m.match("ABO123")] == [("AB0123", "exact")]
    assert m.match("XY2789") == [] and m.match("XYZ78") == []
    assert [h.aligned for h in m.match("NSK357")] == ["NSK357~*SK3*7"]
    assert m.match("OLD111", now=999.0) and m.match("OLD111", now=1000) == [] and m.match("OLD111") == []
    assert [h.entry.plate for h in m.lookup("A8C123")] == ["A8C123", "ABC123"]
    assert m.lookup("FHG52") == []
    hits = m.match_candidates([Candidate("QQQ", 90.0), ("FHG52", 80.0)], best_plate="ABC123")
    assert [(h.entry.plate, h.match_type) for h in hits] == [("ABC123", "exact"), ("A8C123", "ocr-equivalent"),
                                                              ("FHG521", "edit")]


@pytest.mark.parametrize("accel", PATHS)
def test_brute_force_agreement_on_both_paths(accel):
    from rapidfuzz.distance import Levenshtein
    from rapidfuzz.process import cdist

    entries = ncic_like_entries(2000, seed=8, source="csv", match_strategy="lenient")
    entries += ncic_like_entries(300, seed=9, source="ncic", list_code="V", fuzzy=False)
    m = HotlistMatcher.build(entries, accel=accel)
    rng = random.Random(10)
    reads = [ocr_noise(rng, rng.choice(entries).plate) for _ in range(200)]
    canon = m.ocr_table.canonical
    dist = cdist([canon(r) for r in reads], [canon(e.plate) for e in entries], scorer=Levenshtein.distance,
                 score_cutoff=1, workers=1)
    for i, r in enumerate(reads):
        want = {entries[j].entry_id for j in (dist[i] <= 1).nonzero()[0] if m._score(r, entries[j]) is not None}
        assert {h.entry.entry_id for h in m.match(r)} == want, r


def test_extension_is_built():
    if os.environ.get("ALPR_HOTLIST_ALLOW_PURE_PYTHON") == "1":
        pytest.skip("pure-Python build accepted by ALPR_HOTLIST_ALLOW_PURE_PYTHON=1")
    assert BUILT, "alpr.hotlist._fastmatch is missing: `pip install -e .` needs a C compiler"
    assert HotlistMatcher.build([E("ABC123")]).accelerated


def test_fallback_when_extension_missing(monkeypatch):
    monkeypatch.setattr(matcher_mod, "_fastmatch", None)
    with pytest.raises(RuntimeError, match="not built"):
        HotlistMatcher.build([E("ABC123")], accel=True)
    m = HotlistMatcher.build([E("ABC123")])
    assert not m.accelerated and [h.match_type for h in m.match("A8C123")] == ["ocr-equivalent"]


@needs_c
def test_entries_the_c_index_cannot_hold_fall_back_to_python(caplog):
    odd = E("ABC123", max_edits=1.0)  # passes validation (0 <= 1.0 <= 1) but is not an int
    with caplog.at_level(logging.WARNING, logger="alpr.hotlist.matcher"):
        m = HotlistMatcher.build([odd, E("FHG521")])
    assert not m.accelerated and "Python index" in caplog.text
    assert [h.match_type for h in m.match("FHG52")] == ["edit"]
    with pytest.raises(TypeError, match="max_edits must be int"):
        HotlistMatcher.build([odd], accel=True)


@needs_c
def test_c_rejects_non_str_plate_clearly():
    m = HotlistMatcher.build([E("ABC123")], accel=True)
    with pytest.raises(TypeError, match="plate must be str"):
        m.match(b"ABC123")
    with pytest.raises(TypeError, match="plate must be str"):
        m.lookup(None)


@pytest.mark.parametrize("accel", PATHS)
def test_hit_value_semantics(accel):
    m = HotlistMatcher.build([E("FHG521")], accel=accel)
    (h,) = m.match("FHG52")
    (h2,) = m.match("FHG52")
    assert h == h2 and hash(h) == hash(h2) and h != m.match("FHG5211")[0]
    assert h == Hit(h.entry, "FHG52", "edit", 1, "FHG52-~FHG521")
    assert repr(h).startswith("Hit(entry=HotlistEntry(") and "aligned='FHG52-~FHG521'" in repr(h)
    with pytest.raises(FrozenInstanceError):
        h.distance = 0
    back = pickle.loads(pickle.dumps(h))
    assert back == h and back.aligned == "FHG52-~FHG521" and back.sort_key == (1, 2)
    match h:
        case Hit(_, read, mtype, dist, aligned):
            assert (read, mtype, dist, aligned) == ("FHG52", "edit", 1, "FHG52-~FHG521")


@pytest.mark.parametrize("accel", PATHS)
def test_matcher_pickles_by_rebuilding(accel):
    m = HotlistMatcher.build([E("FHG521"), E("S*K3*7"), E("A***12")], ocr_table=("8B", "HM"), accel=accel)
    back = pickle.loads(pickle.dumps(m))
    assert back.accelerated == m.accelerated and len(back) == 2 and len(back.rejected) == 1
    for read in ("FHG52", "FH6521", "NSK357", "HAM"):
        assert [(h.entry, h.match_type, h.aligned) for h in back.match(read)] == \
            [(h.entry, h.match_type, h.aligned) for h in m.match(read)]
