"""Per-camera health of the Flink job: the per-camera detail (frames, last capture time, lag)
goes to a health topic, not to one metric label per camera (bounded series at 10,000 cameras)."""

from __future__ import annotations

import time

from pyflink.datastream.functions import KeyedProcessFunction, MapFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from alpr.pipelines.flink.operators import PICKLED
from alpr.records import Frame


class CameraHealth(KeyedProcessFunction):
    """Per-camera detail (frames, reads, last capture time) goes to a health topic, not to one
    metric label per camera: keyed by camera, emitted at most every ``every_s`` of event time."""

    def __init__(self, every_s: float = 10.0):
        self.every_s = every_s

    def open(self, ctx: RuntimeContext):
        self.acc = ctx.get_state(ValueStateDescriptor("health", PICKLED))

    def process_element(self, frame, ctx):
        a = self.acc.value() or {"frames": 0, "since": frame.capture_ts, "last": frame.capture_ts}
        a["frames"] += 1
        a["last"] = max(a["last"], frame.capture_ts)
        if a["last"] - a["since"] >= self.every_s:
            import json

            from alpr.pipelines.flink.envelope import encode_message

            body = json.dumps({"schema": "CameraHealth/1", "camera_id": frame.camera_id, "agency": frame.agency,
                               "frames": a["frames"], "window_start": a["since"], "last_capture_ts": a["last"],
                               "lag_s": round(time.time() - a["last"], 3), "emitted_ts": time.time()}).encode()
            yield encode_message(frame.camera_id.encode(), body, [("schema", b"CameraHealth/1")])
            a = {"frames": 0, "since": a["last"], "last": a["last"]}
        self.acc.update(a)


class FrameMeta(MapFunction):
    """The frame without its bytes (for per-camera bookkeeping off the heavy path)."""

    def map(self, frame: Frame) -> Frame:
        import dataclasses

        return dataclasses.replace(frame, data=b"")
