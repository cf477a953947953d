"""A bounded Kafka replay commits its offsets only when the pipeline ended in success: a run
that fails, or ends in any other state, never moves them (its frames are read again)."""
import apache_beam as beam
import pytest

import alpr.connectors.kafka as kafka
from alpr.config import load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.pipelines.beam.graph import run
from alpr.records import DEAD

FRAMES = list(SyntheticCamera("cam-o", "AG", n_vehicles=1, seed=3).frames())[:4]


class _Frames(beam.DoFn):
    def __init__(self, fail_after):
        self.fail_after = fail_after

    def process(self, _):
        for i, f in enumerate(FRAMES):
            if self.fail_after is not None and i == self.fail_after:
                raise ConnectionError("broker went away mid-read")
            yield beam.window.TimestampedValue(f, f.capture_ts)


class FakeKafkaSource(beam.PTransform):
    fail_after = None

    def __init__(self, cfg, plan=None):
        super().__init__()

    def expand(self, pbegin):
        return (pbegin | beam.Create([None])
                | beam.ParDo(_Frames(FakeKafkaSource.fail_after)).with_outputs(DEAD, main="frames"))


@pytest.fixture
def kafka_run(tmp_path, monkeypatch):
    commits = []
    plan = [kafka.PartitionRange("frames", 0, 10, 14)]
    monkeypatch.setattr(kafka, "plan_snapshot", lambda cfg, **kw: plan)
    monkeypatch.setattr(kafka, "commit_plan", lambda cfg, p, **kw: commits.append(list(p)))
    monkeypatch.setattr(kafka, "ReadFramesFromKafka", FakeKafkaSource)
    settings = load_settings(env={}, source="kafka", store=f"sqlite:{tmp_path}/o.db",
                             alerts_sink=f"jsonl:{tmp_path}/a.jsonl")
    return settings, plan, commits


def test_success_commits_the_planned_offsets(kafka_run):
    settings, plan, commits = kafka_run
    FakeKafkaSource.fail_after = None
    summary = run(settings)
    assert summary.counters["frames_decoded"] == len(FRAMES)
    assert commits == [plan]


def test_a_failed_run_commits_nothing(kafka_run):
    settings, plan, commits = kafka_run
    FakeKafkaSource.fail_after = 2
    with pytest.raises(Exception, match="broker went away"):
        run(settings)
    assert commits == []


@pytest.mark.parametrize("state", ["CANCELLED", "FAILED", "UNKNOWN", "STOPPED", None])
def test_any_end_state_but_done_commits_nothing(kafka_run, monkeypatch, state):
    settings, plan, commits = kafka_run
    FakeKafkaSource.fail_after = None

    class Result:
        def wait_until_finish(self):
            return None if state is None else f"PipelineState.{state}"

    monkeypatch.setattr(beam.Pipeline, "run", lambda self, *a, **kw: Result())
    with pytest.raises(RuntimeError, match="no offsets were committed"):
        run(settings)
    assert commits == []
