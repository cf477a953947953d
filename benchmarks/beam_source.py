"""An in-memory frame source for benchmarks on the DirectRunner (which runs in this process).

``beam.Create(frames)`` would pickle every JPEG into the pipeline proto (bz2-compressed at
construction: seconds for a few MB), a cost no real source (camera folder, Kafka) has. Here
only frame indices travel; the frames stay in :data:`FRAME_REGISTRY` of this importable
module, so the DoFn is pickled by reference.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import TimestampedValue

FRAME_REGISTRY: dict[str, list] = {}


class _Lookup(beam.DoFn):
    def __init__(self, key: str):
        self.key = key

    def process(self, index: int):
        frame = FRAME_REGISTRY[self.key][index]
        yield TimestampedValue(frame, frame.capture_ts)


class RegisteredFrames(beam.PTransform):
    """Frames of ``FRAME_REGISTRY[key]``, event-timestamped at capture time, in order."""

    def __init__(self, key: str):
        super().__init__()
        self.key = key

    def expand(self, pbegin):
        n = len(FRAME_REGISTRY[self.key])
        return pbegin | "Indices" >> beam.Create(list(range(n))) | "Lookup" >> beam.ParDo(_Lookup(self.key))
