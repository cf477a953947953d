"""Beam sinks: reads, groups, alerts and dead letters to the store (row TTL from the agency's
retention and the capture time), alerts to JSONL or Kafka, dead letters to Kafka or JSONL.

Plates reach stdout only when asked: ``print_results`` (the demo's console output) or
``debug_plates`` (``alpr run --debug`` / ``ALPR_DEBUG_PLATES=1``); never by default, so a
production job puts no plate into container logs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics import Metrics

from alpr.config import Settings
from alpr.pipelines.core.sinks import write_rows
from alpr.records import Alert, DeadLetter, PlateGroup, PlateRead

from .stages import NS, release_store, shared_store


def shows_plates(s: Settings) -> bool:
    return bool(s.print_results or getattr(s, "debug_plates", False))


class _StoreWriter(beam.DoFn):
    """Buffers records and writes them to the store at bundle end (or every ``batch``)."""

    def __init__(self, store_spec: str, table: str, retention_days: int, printer=None, batch: int = 200):
        self.store_spec, self.table, self.retention_days = store_spec, table, retention_days
        self.printer, self.batch = printer, batch

    def setup(self):
        self._store = shared_store(self.store_spec)

    def start_bundle(self):
        self._buf = []

    def process(self, record):
        self._buf.append(record)
        if self.printer:
            self.printer(record)
        if len(self._buf) >= self.batch:
            self._flush()

    def _flush(self):
        if self._buf:
            skipped = write_rows(self._store, self.table, self._buf, self.retention_days, self.store_spec)
            if skipped:
                Metrics.counter(NS, f"rows_past_retention_{self.table}").inc(skipped)
            self._buf = []

    def finish_bundle(self):
        self._flush()

    def teardown(self):
        if getattr(self, "_store", None) is not None:
            release_store(self._store)


def print_read(r: PlateRead) -> None:
    alts = ", ".join(f"{c.plate}:{c.confidence:.0f}" for c in r.candidates[1:4])
    print(f"READ  {r.camera_id} #{r.seq:<4} {r.plate:<10} {r.confidence:5.1f}%  [{alts}]", flush=True)


def print_group(g: PlateGroup) -> None:
    print(f"GROUP {g.camera_id} frames {g.frame_start}-{g.frame_end} {g.best_plate:<10} "
          f"{g.best_confidence:5.1f}% reads={g.num_reads}", flush=True)


def print_alert(a: Alert) -> None:
    print(f"ALERT {a.camera_id} {a.read_plate} -> {a.entry_plate} list={a.list_code} "
          f"{a.match_type} d={a.distance} case={a.case_number or '-'} {a.description}", flush=True)


class WriteReads(beam.PTransform):
    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, reads):
        s = self.settings
        return reads | "StoreReads" >> beam.ParDo(
            _StoreWriter(s.store, "reads", s.retention_days, print_read if shows_plates(s) else None))


class WriteGroups(beam.PTransform):
    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, groups):
        s = self.settings
        return groups | "StoreGroups" >> beam.ParDo(
            _StoreWriter(s.store, "groups", s.retention_days, print_group if shows_plates(s) else None))


class _JsonlWriter(beam.DoFn):
    def __init__(self, path: str):
        self.path = path

    def setup(self):
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def process(self, record):
        self._fh.write(record.to_json() + "\n")
        self._fh.flush()

    def teardown(self):
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()


class WriteAlerts(beam.PTransform):
    """Alerts to the store and to the configured sink (JSONL file or the Kafka alerts topic)."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, alerts):
        s = self.settings
        alerts | "StoreAlerts" >> beam.ParDo(
            _StoreWriter(s.store, "alerts", s.retention_days, print_alert if shows_plates(s) else None, batch=1))
        if s.alerts_sink.startswith("jsonl:"):
            return alerts | "AlertsJsonl" >> beam.ParDo(_JsonlWriter(s.alerts_sink[len("jsonl:"):]))
        if s.alerts_sink == "kafka":
            from alpr.connectors.kafka import WriteAlertsToKafka

            return alerts | "AlertsKafka" >> WriteAlertsToKafka(s.kafka)
        raise ValueError(f"unknown alerts_sink {s.alerts_sink!r}")


class WriteDeadLetters(beam.PTransform):
    """Dead letters to the store (always) and to the Kafka dead-letter topic or a JSONL file if
    configured. The console line names stage and reason; the key (a frame id) only in debug."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def expand(self, letters):
        s = self.settings
        verbose = shows_plates(s)

        def show(d: DeadLetter) -> None:
            if verbose:
                print(f"DEAD  {d.stage}: {d.key}: {d.reason}", file=sys.stderr, flush=True)

        out = letters | "StoreDeadLetters" >> beam.ParDo(_StoreWriter(s.store, "dead_letters", s.retention_days, show))
        if s.deadletter_sink == "kafka":
            from alpr.connectors.kafka import WriteDeadLettersToKafka

            letters | "DeadLettersKafka" >> WriteDeadLettersToKafka(s.kafka)
        elif s.deadletter_sink.startswith("jsonl:"):
            letters | "DeadLettersJsonl" >> beam.ParDo(_JsonlWriter(s.deadletter_sink[len("jsonl:"):]))
        return out
