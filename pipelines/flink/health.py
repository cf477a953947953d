"""Per-camera health of the Flink job (the state machine is :mod:`alpr.pipelines.core.camera_health`):
the per-camera detail goes to a health topic, not to one metric label per camera (bounded series
at 10,000 cameras); a processing-time timer reports a camera that stopped sending."""

from __future__ import annotations

import time

from pyflink.datastream.functions import KeyedProcessFunction, MapFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from alpr.pipelines.core import camera_health as core
from alpr.pipelines.flink.operators import PICKLED
from alpr.records import Frame


class CameraHealth(KeyedProcessFunction):
    """Keyed by camera: frames counted, a ``status: ok`` record at most every ``every_s`` of
    event time, and a ``status: silent`` one when no frame arrived for ``silent_after_s``."""

    def __init__(self, every_s: float = 10.0, silent_after_s: float = 60.0):
        self.every_s, self.silent_after_s = every_s, silent_after_s

    def open(self, ctx: RuntimeContext):
        self.state = ctx.get_state(ValueStateDescriptor("health", PICKLED))

    def _emit(self, camera_id: str, body: bytes):
        from alpr.pipelines.flink.envelope import encode_message

        return encode_message(camera_id.encode(), body, [("schema", core.SCHEMA.encode())])

    def process_element(self, frame, ctx):
        now = time.time()
        s, body = core.observe(self.state.value(), frame.camera_id, frame.agency, frame.capture_ts, now, self.every_s)
        self.state.update(s)
        # whole seconds, rounded up: at most one timer per camera per second, never one that fires early
        ctx.timer_service().register_processing_time_timer((int(now + self.silent_after_s) + 1) * 1000)
        if body is not None:
            yield self._emit(frame.camera_id, body)

    def on_timer(self, timestamp: int, ctx):
        s, body = core.check_silent(self.state.value(), timestamp / 1000.0, self.silent_after_s)
        if body is not None:
            self.state.update(s)
            yield self._emit(s.camera_id, body)


class FrameMeta(MapFunction):
    """The frame without its bytes (for per-camera bookkeeping off the heavy path)."""

    def map(self, frame: Frame) -> Frame:
        import dataclasses

        return dataclasses.replace(frame, data=b"")
