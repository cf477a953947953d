"""Beam's own metrics (``Metrics.counter/distribution/gauge``) bridged to Prometheus.

Beam aggregates its metrics across workers and reports them on the ``PipelineResult`` — the
only place where a Flink job's totals meet. :func:`export_beam_metrics` copies them, summed
over steps, into the ``alpr_beam_counter`` / ``alpr_beam_distribution`` / ``alpr_beam_gauge``
gauges (labels ``namespace``, ``name`` — the metric names written in the code, a bounded set)
and returns the summed counters.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

from .metrics import (BEAM_COUNTER, BEAM_DISTRIBUTION, BEAM_GAUGE, PIPELINE_LAST_RUN_END,
                      PIPELINE_LAST_RUN_SECONDS, PIPELINE_RUNS)

log = logging.getLogger(__name__)


def _value(result: Any) -> Any:
    committed = getattr(result, "committed", None)
    return committed if committed is not None else getattr(result, "attempted", None)


def _query(source: Any) -> dict:
    """Accept a PipelineResult, its ``metrics()`` (a MetricResults) or a ready query dict."""
    if isinstance(source, dict):
        return source
    if hasattr(source, "metrics") and callable(source.metrics):
        source = source.metrics()
    return source.query()


def export_beam_metrics(source: Any) -> dict[tuple[str, str], float]:
    """Set the ``alpr_beam_*`` gauges from a pipeline's metrics; return ``{(namespace, name):
    counter total}``. Runners that report no metrics raise from ``query()``: that propagates."""
    q = _query(source)
    counters: dict[tuple[str, str], float] = {}
    for c in q.get("counters", []):
        v = _value(c)
        if v is None:
            continue
        key = (c.key.metric.namespace, c.key.metric.name)
        counters[key] = counters.get(key, 0) + v
    for (ns, name), v in counters.items():
        BEAM_COUNTER.labels(ns, name).set(v)

    dists: dict[tuple[str, str], list] = {}
    for d in q.get("distributions", []):
        v = _value(d)
        if v is None or not getattr(v, "count", 0):
            continue
        key = (d.key.metric.namespace, d.key.metric.name)
        acc = dists.setdefault(key, [0, 0.0, None, None])
        acc[0] += v.count
        acc[1] += v.sum
        acc[2] = v.min if acc[2] is None else min(acc[2], v.min)
        acc[3] = v.max if acc[3] is None else max(acc[3], v.max)
    for (ns, name), (count, total, lo, hi) in dists.items():
        for stat, value in (("count", count), ("sum", total), ("min", lo), ("max", hi),
                            ("mean", total / count if count else 0.0)):
            BEAM_DISTRIBUTION.labels(ns, name, stat).set(value)

    for g in q.get("gauges", []):
        v = _value(g)
        if v is None or getattr(v, "value", None) is None:
            continue
        BEAM_GAUGE.labels(g.key.metric.namespace, g.key.metric.name).set(v.value)
    return counters


def record_pipeline_run(state: str, seconds: float, now: Optional[float] = None) -> None:
    """Count a finished run by final state (``DONE``, ``FAILED``...) and its duration."""
    PIPELINE_RUNS.labels(str(state).split(".")[-1] or "UNKNOWN").inc()
    PIPELINE_LAST_RUN_SECONDS.set(seconds)
    PIPELINE_LAST_RUN_END.set(time.time() if now is None else now)
