"""The Beam binding gives the same groups and alerts as the engine-neutral core run by hand
(the reference every binding must match; the Flink job is held to the same by its own test)."""
import apache_beam as beam

from alpr.config import GroupingConfig, load_settings
from alpr.connectors.stores import open_store
from alpr.pipelines.beam.graph import pipeline_options
from alpr.pipelines.beam.stages import CONFIRMED, DedupeAlerts, GroupPlates, MatchHotlist
from alpr.pipelines.core.dedupe import DedupeStage, dedupe_key
from alpr.pipelines.core.grouping import GroupingStage
from alpr.pipelines.core.matching import HotlistSnapshot, MatchStage
from alpr.records import HotlistEntry, record_from_json

from core_helpers import passage, read

CFG = GroupingConfig(time_delta_s=2.0, min_reads=2, min_confidence=80.0, max_delay_s=6.0)
ENTRIES = [HotlistEntry("v", "KN52600", "V", source="ncic"),
           HotlistEntry("w", "RJ77410", "V", agency="AG-B", source="agency", expires_at=10 ** 10),
           HotlistEntry("x", "GMC4136", "V", agency="AG-A", shared_with=("AG-B",), description="secret",
                        case_number="C-1", source="agency", expires_at=10 ** 10)]


def clip():
    reads = []
    reads += passage("KN52600", 1000.0, n=40, cam="cam-a", agency="AG-A")      # longer than max_delay_s
    reads += passage("RJ77410", 1003.0, n=10, cam="cam-a", agency="AG-A", seq0=100)  # AG-B's entry: no alert
    reads += passage("RJ77410", 1004.0, n=10, cam="cam-b", agency="AG-B", seq0=200)
    reads += passage("GMC4136", 1006.0, n=10, cam="cam-b", agency="AG-B", seq0=300)  # shared: redacted alert
    # a better read arrives later for the same vehicle
    reads += [read("KN5260O", 1000.5 + i * 0.1, 81.0, cam="cam-a", agency="AG-A", seq=400 + i) for i in range(2)]
    return reads


class _Keep(beam.DoFn):
    """Appends each record's JSON to a file (the runner may pickle and run this elsewhere)."""

    def __init__(self, path):
        self.path = str(path)

    def process(self, record):
        with open(self.path, "a") as fh:
            fh.write(record.to_json() + "\n")


def _kept(path):
    return [record_from_json(line) for line in path.read_text().splitlines()] if path.exists() else []


def core_reference(reads):
    snap = HotlistSnapshot.from_entries(ENTRIES)
    grouping, matcher, dd = GroupingStage(CFG), MatchStage(lambda: snap), DedupeStage(600.0)
    closed, alerts, dstate = [], [], {}
    for cam in sorted({r.camera_id for r in reads}):
        state = None
        for r in sorted((r for r in reads if r.camera_id == cam), key=lambda r: (r.capture_ts, r.read_id)):
            step = grouping.on_read(state, r)
            state = step.state
            closed += step.closed
            for g in step.confirmed:
                for a in matcher.alerts(g):
                    k = dedupe_key(a)
                    dstate[k], emit = dd.dedupe(dstate.get(k), a)
                    if emit:
                        alerts.append(a)
        closed += grouping.flush(state).closed
    return closed, alerts


def test_beam_binding_matches_the_core(tmp_path):
    settings = load_settings(env={}, store=f"sqlite:{tmp_path}/h.db", grouping=CFG)
    store = open_store(settings.store)
    store.upsert_entries(ENTRIES)
    store.close()
    reads = clip()
    with beam.Pipeline(options=pipeline_options(settings)) as p:
        out = (p | beam.Create(reads) | beam.Map(lambda r: beam.window.TimestampedValue(r, r.capture_ts))
               | GroupPlates(CFG, with_confirmed=True))
        out.groups | "KeepGroups" >> beam.ParDo(_Keep(tmp_path / "groups.jsonl"))
        (out[CONFIRMED] | MatchHotlist(settings) | DedupeAlerts(settings.alert_dedupe_s)
         | "KeepAlerts" >> beam.ParDo(_Keep(tmp_path / "alerts.jsonl")))
    closed, alerts = core_reference(reads)
    groups = lambda gs: sorted((g.group_id, g.best_plate, g.num_reads, g.read_ids) for g in gs)
    assert groups(_kept(tmp_path / "groups.jsonl")) == groups(closed)
    assert len(closed) == 5  # the 40-read passage is split by max_delay_s; the others are one each
    key = lambda a: (a.alert_id, a.group_id, a.entry_id, a.read_plate, a.agency, a.description, a.case_number)
    assert sorted(map(key, _kept(tmp_path / "alerts.jsonl"))) == sorted(map(key, alerts))
    by_entry = {a.entry_id: a for a in alerts}
    assert sorted(by_entry) == ["v", "w", "x"] and len(alerts) == 3
    assert by_entry["w"].camera_id == "cam-b"
    assert (by_entry["x"].agency, by_entry["x"].description, by_entry["x"].case_number) == ("AG-B", "", "")
