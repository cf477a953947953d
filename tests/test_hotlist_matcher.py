"""Matcher rules: exact, OCR-equivalence, edits, wildcards, NCIC O/0, strategies, expiry."""

import random

import pytest

from alpr.hotlist import HotlistMatcher, OcrTable, entry_problems, search_pattern_regex, validate_entry, EntryError
from alpr.hotlist.synth import ncic_like_entries, ocr_noise
from alpr.records import Candidate, HotlistEntry


def E(plate, **kw):
    kw.setdefault("list_code", "T")
    return HotlistEntry(entry_id=kw.pop("entry_id", plate), plate=plate, **kw)


def hit_plates(m, read, **kw):
    return {h.entry.plate: (h.match_type, h.distance) for h in m.match(read, **kw)}


GENETEC = ["ABC123", "A8C123", "ABC1Z3", "ABCI23", "A8CIZ3"]


def test_genetec_ocr_equivalence_example():
    m = HotlistMatcher.build([E(p, max_edits=0) for p in GENETEC])
    got = hit_plates(m, "ABC123")
    assert got == {"ABC123": ("exact", 0), "A8C123": ("ocr-equivalent", 1),
                   "ABC1Z3": ("ocr-equivalent", 1), "ABCI23": ("ocr-equivalent", 1)}


def test_ocr_sub_limit_per_entry_and_max_two():
    one = HotlistMatcher.build([E("ABC123", max_edits=0)])
    assert one.match("A8C1Z3") == []  # two substitutions, default allows one
    two = HotlistMatcher.build([E("ABC123", max_ocr_subs=2, max_edits=0)])
    (h,) = two.match("A8C1Z3")
    assert (h.match_type, h.distance) == ("ocr-equivalent", 2)
    assert two.match("A8CIZ3") == []
    assert "max_ocr_subs" in entry_problems(E("ABC123", max_ocr_subs=3))[0]
    with pytest.raises(EntryError):
        validate_entry(E("ABC123", max_ocr_subs=3))
    m = HotlistMatcher.build([E("ABC123", max_ocr_subs=3)])
    assert len(m) == 0 and "max_ocr_subs" in m.rejected[0][1]


def test_aligned_string_and_hit_fields():
    m = HotlistMatcher.build([E("ABC123")])
    (h,) = m.match("A8C123")
    assert h.read_plate == "A8C123" and h.aligned == "A8C123~ABC123" and h.entry.plate == "ABC123"


def test_configurable_ocr_table():
    m = HotlistMatcher.build([E("ABC123", max_edits=0)], ocr_table=("8B", "HM"))
    assert hit_plates(m, "A8C123") == {"ABC123": ("ocr-equivalent", 1)}
    m2 = HotlistMatcher.build([E("HAM123", max_edits=0)], ocr_table=OcrTable(("8B", "HM")))
    assert hit_plates(m2, "MAM123") == {"HAM123": ("ocr-equivalent", 1)}
    assert HotlistMatcher.build([E("ABC1Z3", max_edits=0)], ocr_table=("8B",)).match("ABC123") == []


def test_edit_distance_drop_extra_and_substitution():
    m = HotlistMatcher.build([E("FHG521")])
    assert hit_plates(m, "FHG52") == {"FHG521": ("edit", 1)}  # dropped char
    assert hit_plates(m, "FHG5211") == {"FHG521": ("edit", 1)}  # extra char
    assert hit_plates(m, "FHW521") == {"FHG521": ("edit", 1)}  # non-OCR substitution
    assert m.match("FH52") == [] and m.match("XFHG52") == []  # two edits
    (h,) = m.match("FHG52")
    assert h.aligned == "FHG52-~FHG521"
    assert HotlistMatcher.build([E("FHG521", max_edits=0)]).match("FHG52") == []


def test_edit_plus_ocr_substitution():
    m = HotlistMatcher.build([E("CUST0M")])
    (h,) = m.match("CU5T0")  # S->5 (OCR) and dropped M
    assert (h.match_type, h.distance) == ("edit", 2)


def test_fuzzy_disabled_matches_exactly_only():
    m = HotlistMatcher.build([E("XYZ789", fuzzy=False)])
    assert hit_plates(m, "XYZ789") == {"XYZ789": ("exact", 0)}
    assert m.match("XY2789") == [] and m.match("XYZ78") == []


def test_ncic_o_and_zero_identical():
    m = HotlistMatcher.build([E("AB0123", source="ncic", fuzzy=False), E("CD0456", source="csv", fuzzy=False)])
    assert hit_plates(m, "ABO123") == {"AB0123": ("exact", 0)}
    assert m.match("CDO456") == []  # non-NCIC entry: O vs 0 is an OCR substitution, fuzzy off
    # even with a table without O/0, NCIC entries still treat them as one character
    m2 = HotlistMatcher.build([E("AB0123", source="ncic", max_edits=0)], ocr_table=("8B",))
    assert hit_plates(m2, "ABO123") == {"AB0123": ("exact", 0)}


@pytest.mark.parametrize("pattern", ["S*K3*7", "**SK37", "SK37**"])
def test_wildcard_genetec_examples(pattern):
    m = HotlistMatcher.build([E(pattern)])
    assert hit_plates(m, "NSK357") == {pattern: ("wildcard", 2)}
    assert hit_plates(m, "ASDK37") == {pattern: ("wildcard", 2)}
    assert m.match("SUKA357") == []
    assert m.match("SKU573") == []


def test_wildcard_more_than_two_rejected():
    m = HotlistMatcher.build([E("A***12")])
    assert len(m) == 0 and "3 '*'" in m.rejected[0][1]


def test_expired_entries_never_match():
    m = HotlistMatcher.build([E("ABC123", expires_at=1000.0), E("S*K3*7", expires_at=1000.0),
                              E("FHG521", expires_at=1000.0)])
    assert m.match("ABC123", now=999.0) and m.match("NSK357", now=999.0) and m.match("FHG52", now=999.0)
    assert m.match("ABC123", now=1000.0) == []
    assert m.match("NSK357", now=1001.0) == [] and m.match("FHG52", now=1001.0) == []
    assert m.match("ABC123") == []  # wall clock is far past 1000


def test_exact_vs_lenient_candidates_and_dedupe():
    m = HotlistMatcher.build([E("ABC123", match_strategy="exact", entry_id="ex"),
                              E("XYZ789", match_strategy="lenient", entry_id="le")])
    cands = [("QQQ111", 90.0), ("ABC123", 85.0), ("XYZ789", 80.0), ("XYZ78", 70.0)]
    hits = m.match_candidates(cands, best_plate="QQQ111")
    assert [(h.entry.entry_id, h.match_type) for h in hits] == [("le", "exact")]  # best kept, one per entry
    hits = m.match_candidates([Candidate("ABC123", 90.0), Candidate("XYZ78", 60.0)], best_plate="ABC123")
    assert {h.entry.entry_id: h.match_type for h in hits} == {"ex": "exact", "le": "edit"}


def test_input_plate_normalised():
    m = HotlistMatcher.build([E("abc-123")])
    assert hit_plates(m, "abc 123") == {"ABC123": ("exact", 0)}


def test_search_pattern_regex():
    rx = search_pattern_regex("A*123")
    assert all(rx.match(p) for p in ("AB123", "ABC123", "A123")) and not rx.match("B123")
    rx = search_pattern_regex("?BC12?")
    assert rx.match("ABC123") and rx.match("5BC12L") and not rx.match("BC123")


def test_index_agrees_with_brute_force_on_random_data():
    """Index answers == rapidfuzz Levenshtein<=1 over canonical forms (+ the same limits)."""
    from rapidfuzz.distance import Levenshtein
    from rapidfuzz.process import cdist

    entries = ncic_like_entries(3000, seed=5, source="csv", match_strategy="lenient")
    entries += ncic_like_entries(500, seed=6, source="ncic", list_code="V")
    m = HotlistMatcher.build(entries)
    rng = random.Random(7)
    reads = [ocr_noise(rng, rng.choice(entries).plate) for _ in range(300)] + [e.plate for e in entries[:50]]
    canon = m.ocr_table.canonical
    dist = cdist([canon(r) for r in reads], [canon(e.plate) for e in entries], scorer=Levenshtein.distance,
                 score_cutoff=1, workers=1)
    total = 0
    for i, r in enumerate(reads):
        got = {h.entry.entry_id for h in m.match(r)}
        want = {entries[j].entry_id for j in (dist[i] <= 1).nonzero()[0] if m._score(r, entries[j]) is not None}
        assert got == want, r
        total += len(got)
    assert total >= len(reads)  # every noisy read still hits its source entry at least


def test_lookup_is_exact_and_ocr_only():
    m = HotlistMatcher.build([E("ABC123"), E("FHG521"), E("S*K3*7")])
    assert [(h.entry.plate, h.match_type) for h in m.lookup("A8C123")] == [("ABC123", "ocr-equivalent")]
    assert m.lookup("FHG52") == [] and m.lookup("NSK357") == []
    assert m.match("FHG52") and m.match("NSK357")


@pytest.mark.parametrize("accel", [False, None])
def test_exact_only_entry_matches_only_exactly(accel):
    """Regression (issue 13 item 3): XYZ78B hit an exact-only XYZ789 as an edit."""
    m = HotlistMatcher.build([E("XYZ789", match_strategy="exact", entry_id="ex"),
                              E("XYZ789", match_strategy="lenient", entry_id="le", list_code="U")], accel=accel)
    assert {h.entry.entry_id: h.match_type for h in m.match("XYZ78B")} == {"le": "edit"}
    assert {h.entry.entry_id: h.match_type for h in m.match("XYZ7B9")} == {"le": "ocr-equivalent"}
    assert [h.entry.entry_id for h in m.lookup("XYZ7B9")] == ["le"]
    hits = m.match_candidates([("XYZ78B", 90.0)], best_plate="XYZ78B")
    assert [h.entry.entry_id for h in hits] == ["le"]
    assert sorted(h.entry.entry_id for h in m.match("XYZ789")) == ["ex", "le"]
    # NCIC treats O and 0 as the same character: that is still an exact hit
    n = HotlistMatcher.build([E("AB0123", match_strategy="exact", source="ncic")], accel=accel)
    assert [(h.match_type, h.distance) for h in n.match("ABO123")] == [("exact", 0)]
    assert n.match("AB0I23") == []
