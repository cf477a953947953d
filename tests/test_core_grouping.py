"""The engine-neutral grouping state machine: early confirmation, stable group ids, explicit
event-time clock, and the same groups however the input is split in time."""
import pickle

from alpr.config import GroupingConfig
from alpr.pipelines.core.grouping import GroupingStage, GroupingState

from core_helpers import passage, read

CFG = GroupingConfig(time_delta_s=2.0, min_reads=2, min_confidence=80.0, max_reads=500, max_delay_s=30.0)


def test_group_is_confirmed_while_open_at_the_second_good_read():
    stage = GroupingStage(CFG)
    s1 = stage.on_read(None, read("ABC123", 100.0, 95.0, seq=1))
    assert s1.confirmed == [] and s1.closed == [] and s1.wake_at == 102.0
    s2 = stage.on_read(s1.state, read("ABC123", 100.25, 96.0, seq=2))
    assert [g.best_plate for g in s2.confirmed] == ["ABC123"] and s2.closed == []
    assert s2.confirmed[0].num_reads == 2
    # more reads of the same plate: no new confirmation (nothing changed that matters)
    s3 = stage.on_read(s2.state, read("ABC123", 100.5, 97.0, seq=3))
    assert s3.confirmed == [] and s3.closed == []
    # the clock passes the deadline: the group closes with the same id
    assert stage.on_timer(s3.state, 102.49).closed == []
    s4 = stage.on_timer(s3.state, 102.5)
    assert [g.group_id for g in s4.closed] == [s2.confirmed[0].group_id]
    assert s4.closed[0].num_reads == 3 and s4.wake_at is None and s4.state.groups == []


def test_a_better_later_read_updates_the_group_under_the_same_id():
    stage = GroupingStage(CFG)
    st = None
    confirmed = []
    # first two reads agree on a wrong character; the next ones read it right, with higher confidence
    reads = [read("ABC128", 10.0 + i * 0.25, 85.0, seq=i) for i in range(2)] + \
            [read("ABC123", 10.5 + i * 0.25, 99.0, seq=2 + i) for i in range(4)]
    for r in reads:
        step = stage.on_read(st, r)
        st = step.state
        confirmed += step.confirmed
    assert [g.best_plate for g in confirmed] == ["ABC128", "ABC123"]
    assert len({g.group_id for g in confirmed}) == 1
    closed = stage.flush(st).closed
    assert [g.group_id for g in closed] == [confirmed[0].group_id] and closed[0].best_plate == "ABC123"


def test_an_unconfident_group_is_never_confirmed_but_still_closes():
    stage = GroupingStage(CFG)
    out = stage.run([read("XY1", 5.0 + i * 0.25, 55.0, seq=i) for i in range(5)])
    assert out.confirmed == [] and [g.num_reads for g in out.closed] == [5]


def test_max_reads_closes_and_confirms_in_the_same_step():
    stage = GroupingStage(GroupingConfig(time_delta_s=2.0, min_reads=3, max_reads=3))
    st = stage.on_read(None, read("QQQ111", 1.0, 90.0, seq=1)).state
    st = stage.on_read(st, read("QQQ111", 1.1, 90.0, seq=2)).state
    step = stage.on_read(st, read("QQQ111", 1.2, 90.0, seq=3))
    assert [g.num_reads for g in step.closed] == [3] and [g.group_id for g in step.confirmed] == \
        [g.group_id for g in step.closed]
    assert step.wake_at is None


def _clip():
    reads = []
    for i, plate in enumerate(["KN52600", "UXC2121", "RJ77410"]):
        reads += passage(plate, 1000.0 + i * 4.0, n=10, seq0=100 * i)
    return sorted(reads, key=lambda r: r.capture_ts)


def _summary(step_closed, step_confirmed):
    return (sorted((g.group_id, g.best_plate, g.num_reads, g.read_ids) for g in step_closed),
            sorted((g.group_id, g.best_plate, g.num_reads) for g in step_confirmed))


def test_same_groups_whether_the_input_comes_in_one_batch_or_two_halves_with_a_pause():
    reads = _clip()
    stage = GroupingStage(CFG)
    whole = stage.run(reads)
    assert len(whole.closed) == 3
    # split in the middle of the second vehicle's passage, with a pause: the clock advances to
    # the last event time seen, and the state goes through a checkpoint (pickle round trip)
    cut = next(i for i, r in enumerate(reads) if r.plate == "UXC2121") + 4
    first = stage.run(reads[:cut], until=reads[cut - 1].capture_ts)
    state = pickle.loads(pickle.dumps(first.state))
    second = stage.run(reads[cut:], state=state)
    split = _summary(first.closed + second.closed, first.confirmed + second.confirmed)
    assert split == _summary(whole.closed, whole.confirmed)
    # control: without the carried state (a fresh run per snapshot, as the old snapshot loop
    # did) the vehicle that spans the cut becomes two groups
    fresh = stage.run(reads[:cut]).closed + stage.run(reads[cut:]).closed
    assert len(fresh) == 4


def test_two_cameras_keep_separate_states():
    stage = GroupingStage(CFG)
    a = stage.run(passage("AAA111", 0.0, cam="cam-a"))
    b = stage.run(passage("AAA111", 0.0, cam="cam-b"))
    assert len(a.closed) == len(b.closed) == 1 and a.closed[0].group_id != b.closed[0].group_id
    assert isinstance(a.state, GroupingState)
