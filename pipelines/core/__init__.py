"""Engine-neutral pipeline stages (no Beam, no Flink): decode, recognize, grouping (a state
machine with an explicit event-time clock), hotlist matching, alert dedupe and sink helpers.

Each stage is a plain class or function; keyed state is a small picklable dataclass passed in
and returned; timers are asked for (``Step.wake_at``), never set. ``alpr.pipelines.beam`` and
``alpr.pipelines.flink`` are thin bindings that run these stages on their engine.
"""
