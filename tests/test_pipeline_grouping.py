import pytest

from alpr.config import GroupingConfig
from alpr.pipelines.grouping import PlateGrouper, build_group, edit_distance, is_confirmed, vote
from alpr.records import Candidate, PlateRead


def r(i, plate, ts, conf=90.0, cands=()):
    return PlateRead(f"r{i}", f"c:{i}", "c", "A", ts, plate, conf, ((0, 0),) * 4,
                     tuple(Candidate(p, c) for p, c in cands) or (Candidate(plate, conf),), seq=i)


def test_edit_distance():
    assert edit_distance("ABC123", "ABC123") == 0
    assert edit_distance("ABC123", "ABC12") == 1
    assert edit_distance("ABC123", "A8C1Z3") == 2
    assert edit_distance("AAAAAA", "BBBBBBBBB", limit=2) == 3


def test_vote_prefers_majority_over_single_confident_misread():
    reads = [r(0, "7ABC123", 0.0, 85), r(1, "7A8C123", 0.2, 95), r(2, "7ABC123", 0.4, 88)]
    g = build_group(reads)
    assert g.best_plate == "7ABC123"
    assert g.num_reads == 3 and g.frame_start == 0 and g.frame_end == 2
    assert g.best_read_id == "r2"
    assert [c.plate for c in g.candidates][:2] == ["7ABC123", "7A8C123"]
    assert vote([r(0, "X1", 0, 50, [("X1", 50), ("XI", 40)])])[1].plate == "XI"


def test_time_delta_splits_vehicles_and_resets_on_each_match():
    cfg = GroupingConfig(time_delta_s=4.5, max_delay_s=100)
    # the same plate read every 4 s keeps one group alive (timer resets), a 5 s gap splits it
    reads = [r(i, "ABC123", ts) for i, ts in enumerate([0, 4, 8, 12, 17.5])]
    groups = PlateGrouper(cfg).group_all(reads)
    assert [g.num_reads for g in groups] == [4, 1]


def test_two_vehicles_in_view_at_once_are_kept_apart():
    cfg = GroupingConfig()
    reads = [r(0, "ABC123", 0.0), r(1, "XYZ789", 0.1), r(2, "ABC123", 0.5), r(3, "XYZ78", 0.6, 70)]
    groups = sorted(PlateGrouper(cfg).group_all(reads), key=lambda g: g.best_plate)
    assert [(g.best_plate, g.num_reads) for g in groups] == [("ABC123", 2), ("XYZ789", 2)]


def test_max_delay_and_max_reads_flush():
    cfg = GroupingConfig(max_delay_s=2.0, max_reads=3)
    g = PlateGrouper(cfg)
    assert g.add(r(0, "ABC123", 0.0)) == []
    assert g.add(r(1, "ABC123", 0.1)) == []
    closed = g.add(r(2, "ABC123", 0.2))
    assert len(closed) == 1 and closed[0].num_reads == 3
    g.add(r(3, "ABC123", 1.0))
    assert g.next_deadline() == 3.0
    assert g.flush_ready(2.9) == []
    assert [x.num_reads for x in g.flush_ready(3.0)] == [1]


def test_confirmation_thresholds():
    cfg = GroupingConfig(min_reads=2, min_confidence=80)
    assert not is_confirmed(build_group([r(0, "ABC123", 0, 99)]), cfg)
    assert not is_confirmed(build_group([r(0, "ABC123", 0, 60), r(1, "ABC123", 1, 70)]), cfg)
    assert is_confirmed(build_group([r(0, "ABC123", 0, 90), r(1, "ABC123", 1, 85)]), cfg)


def test_partial_reads_at_the_frame_edge_join_the_vehicle():
    cfg = GroupingConfig()
    reads = [r(0, "A13", 0.0, 55), r(1, "A13YCZ", 0.2), r(2, "A13YCZ", 0.4), r(3, "3YCZ", 0.6, 60)]
    groups = PlateGrouper(cfg).group_all(reads)
    assert [(g.best_plate, g.num_reads) for g in groups] == [("A13YCZ", 4)]
    # but two different plates sharing a short fragment stay apart
    other = [r(0, "ABC123", 0.0), r(1, "XYZ12", 0.2), r(2, "ABC123", 0.4)]
    assert sorted(g.best_plate for g in PlateGrouper(cfg).group_all(other)) == ["ABC123", "XYZ12"]


@pytest.mark.parametrize("start", [1795882993.1738625, 1767225600.0, 1764343252.7777777, 1700000000.0004999])
def test_beam_grouping_terminates_for_any_sub_millisecond_timestamps(start):
    """Event-time timers fire at millisecond timestamps: a deadline between two milliseconds
    used to re-arm the same timer forever (found with capture times taken from time.time())."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from alpr.config import load_settings
    from alpr.pipelines.graph import pipeline_options
    from alpr.pipelines.transforms import GroupPlates

    reads = [r(i, "ABC123", start + i * 0.2) for i in range(12)]
    reads += [r(100 + i, "XYZ789", start + 30 + i * 0.2) for i in range(12)]
    with beam.Pipeline(options=pipeline_options(load_settings())) as p:
        groups = (p | beam.Create(reads) | beam.Map(lambda x: beam.window.TimestampedValue(x, x.capture_ts))
                  | GroupPlates(GroupingConfig()) | beam.Map(lambda g: (g.best_plate, g.num_reads)))
        assert_that(groups, equal_to([("ABC123", 12), ("XYZ789", 12)]))
