"""PyFlink operators at the end of the ALPR job: alert dedupe in keyed state with a TTL, the store
writer and the Kafka message mappers (re-exported by :mod:`alpr.pipelines.flink.operators`).
Imported only inside the Flink job environment (PyFlink 2.2)."""

from __future__ import annotations

import time

from pyflink.common import Types
from pyflink.common.time import Time
from pyflink.datastream.functions import KeyedProcessFunction, MapFunction, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from alpr.config import Settings
from alpr.pipelines.flink.envelope import alert_message, dead_letter_message
from alpr.records import Alert, DeadLetter

PICKLED = Types.PICKLED_BYTE_ARRAY()


# --------------------------------------------------------------------------- dedupe
class DedupeAlerts(KeyedProcessFunction):
    def __init__(self, window_s: float):
        self.window_s = float(window_s)

    def open(self, ctx: RuntimeContext):
        from alpr.pipelines.core.dedupe import DedupeStage

        self.stage = DedupeStage(self.window_s)
        desc = ValueStateDescriptor("dedupe", PICKLED)
        ttl = (StateTtlConfig.new_builder(Time.milliseconds(int(self.window_s * 1000) + 60_000))
               .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
               .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
               .build())
        desc.enable_time_to_live(ttl)
        self.dedupe = ctx.get_state(desc)
        g = ctx.get_metrics_group().add_group("alpr")
        self.m_alerts = g.counter("alerts")
        self.m_dups = g.counter("alerts_deduplicated")

    def process_element(self, alert: Alert, ctx):
        state, emit = self.stage.dedupe(self.dedupe.value(), alert, alert.capture_ts)
        self.dedupe.update(state)
        if emit:
            self.m_alerts.inc()
            yield alert
        else:
            self.m_dups.inc()


# --------------------------------------------------------------------------- sinks
class WriteStore(MapFunction):
    """Records (or lists of records) to the store with per-row TTLs from capture time.
    Synchronous: the element is done once the store acknowledged it, so a checkpoint never
    covers an unwritten row (at-least-once; ids are stable, so a replay overwrites)."""

    def __init__(self, settings: Settings, table: str):
        self.settings, self.table = settings, table

    def open(self, ctx: RuntimeContext):
        from alpr.connectors.stores import open_store

        self.store = open_store(self.settings.store, getattr(self.settings, "cassandra", None))
        g = ctx.get_metrics_group().add_group("alpr")
        self.m_rows = g.counter(f"store_{self.table}_rows")
        self.m_expired = g.counter(f"store_{self.table}_past_retention")
        self.m_ms = g.counter(f"store_{self.table}_ms_total")

    def close(self):
        store = getattr(self, "store", None)
        if store is not None:
            store.close()

    def map(self, value):
        from alpr.pipelines.core.sinks import write_rows

        rows = list(value) if isinstance(value, (list, tuple)) else [value]
        t0 = time.perf_counter()
        expired = write_rows(self.store, self.table, rows, self.settings.retention_days, self.settings.store)
        self.m_ms.inc(int((time.perf_counter() - t0) * 1000))
        self.m_rows.inc(len(rows) - expired)
        self.m_expired.inc(expired)
        return len(rows)


class AlertMessage(MapFunction):
    def map(self, alert: Alert) -> bytes:
        return alert_message(alert)


class DeadLetterMessage(MapFunction):
    def map(self, d: DeadLetter) -> bytes:
        return dead_letter_message(d)
