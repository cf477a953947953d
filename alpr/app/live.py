"""The CLI's frame source on the embedded (Direct) runner: a progress bar, and results as they happen.

The Python DirectRunner (FnApiRunner) runs a pipeline stage by stage: the recognition stage sees
every frame of a bundle before the grouping stage sees its first read, and at the end of a bundle
it fires every event-time timer. So with one bundle, every GROUP and ALERT line comes at the end.

:class:`LiveFrames` is a splittable DoFn that reads the source in chunks and *defers the rest*
after each chunk (``defer_remainder``); the runner then runs the downstream stages on that chunk
(grouping, matching, alert sinks) before it resumes the source. Chunks end only where no vehicle is
in view for at least ``time_delta_s`` (from the clip's ground truth: a synthetic camera or a
folder written by ``alpr synth``), so flushing the open groups at a chunk end closes exactly the
groups that time would have closed anyway. Sources without ground truth are read in one chunk
(the reads and the progress bar still come as frames are recognised).

The source iterator and the progress bar live in a module registry under a token: on the
DirectRunner the DoFn runs in this process, and only the token is pickled.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Iterable, Optional, Sequence

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from alpr.app.progress import Progress

_LIVE: dict = {}  # token -> _Feed
# The FnApiRunner fires a timer set inside a timer callback only in its next round (one round per
# source bundle), and the grouping step advances one pending read per timer. After each chunk the
# source therefore yields this many empty rounds, so the chunk's groups close before the next one.
IDLE_ROUNDS = 40


def quiet_cuts(visible: Iterable[tuple[int, int]], n_frames: int, min_gap_frames: int) -> list[int]:
    """Frame numbers where a chunk may end: halfway through each gap of more than
    ``min_gap_frames`` in which no vehicle is in view.
    ``visible`` holds (frame seq, vehicle id) for every frame a plate is visible in."""
    spans: dict[int, list[int]] = {}
    for seq, vid in visible:
        s = spans.setdefault(vid, [seq, seq])
        s[0], s[1] = min(s[0], seq), max(s[1], seq)
    cuts, last_end = [], None
    for first, last in sorted(spans.values()):
        # cut in the middle of the quiet gap: a plate is often read a frame or two before and
        # after the frames where it is fully visible (which is what the ground truth lists)
        if last_end is not None and first - last_end > min_gap_frames and 0 < first < n_frames:
            cuts.append((first + last_end + 1) // 2)
        last_end = last if last_end is None else max(last_end, last)
    return cuts


class _Feed:
    """The source's frames in order, and the progress bar they tick."""

    def __init__(self, source, progress: Optional[Progress], idle_rounds: int = 0):
        self.source, self.progress = source, progress
        self.it, self.pos = iter(source), 0
        self.idle_rounds, self.idle_left = idle_rounds, 0

    def frames(self, start: int, stop: int):
        if start != self.pos:  # a restarted restriction: re-read from the start
            self.it, self.pos = iter(self.source), 0
            for _ in itertools.islice(self.it, start):
                self.pos += 1
        while self.pos < stop:
            frame = next(self.it, None)
            if frame is None:
                return
            self.pos += 1
            yield frame


class _Chunks(RestrictionProvider):
    def initial_restriction(self, element):
        return OffsetRange(0, element[1])

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()

    def split(self, element, restriction):
        yield restriction  # one reader, in order


class _LiveFramesFn(beam.DoFn):
    def __init__(self, cuts: Sequence[int]):
        self.cuts = sorted(cuts)

    @beam.DoFn.unbounded_per_element()
    def process(self, element, tracker=beam.DoFn.RestrictionParam(_Chunks()),
                watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider())):
        token, _n = element
        feed: _Feed = _LIVE[token]
        r = tracker.current_restriction()
        if feed.idle_left > 0:  # a round without input: downstream timers take one more step
            feed.idle_left -= 1
            tracker.defer_remainder()
            return
        stop = min([c for c in self.cuts if c > r.start] + [r.stop])
        seq = r.start
        for frame in feed.frames(r.start, stop):
            if not tracker.try_claim(seq):
                return
            seq += 1
            Metrics.counter("alpr", "frames_in").inc()
            if feed.progress is not None:
                feed.progress.advance()
            watermark.set_watermark(Timestamp.of(frame.capture_ts))
            yield TimestampedValue(frame, frame.capture_ts)
        if seq < stop:  # the source ended early (a video shorter than its frame count): done
            if seq <= r.stop - 1:
                tracker.try_claim(r.stop - 1)
            return
        if stop < r.stop:
            feed.idle_left = feed.idle_rounds
            tracker.defer_remainder()


class LiveFrames(beam.PTransform):
    """Frames of ``source`` (any :class:`~alpr.connectors.camera.sources.FrameSource` with a length),
    in chunks that end at ``cuts``, ticking ``progress``. Use it as a context manager around
    the pipeline run so the registry entry is removed afterwards."""

    def __init__(self, source, n_frames: int, cuts: Sequence[int] = (), progress: Optional[Progress] = None,
                 idle_rounds: int = IDLE_ROUNDS):
        super().__init__()
        self.token = uuid.uuid4().hex
        self.n_frames, self.cuts = int(n_frames), list(cuts)
        _LIVE[self.token] = _Feed(source, progress, idle_rounds)

    def expand(self, pbegin):
        return (pbegin | "Source" >> beam.Create([(self.token, self.n_frames)])
                | "Chunks" >> beam.ParDo(_LiveFramesFn(self.cuts)))

    def close(self) -> None:
        _LIVE.pop(self.token, None)


def source_cuts(source, time_delta_s: float) -> list[int]:
    """Chunk ends for ``source`` from its ground truth (synthetic camera or synthetic clip folder);
    none for sources without one."""
    from alpr.connectors.camera.sources import FolderSource, SyntheticSource
    from alpr.connectors.camera.synthetic import GROUND_TRUTH_FILE, load_ground_truth

    if isinstance(source, SyntheticSource):
        cam = source.camera
        truth, n, fps = cam.ground_truth(), cam.n_frames, cam.fps
    elif isinstance(source, FolderSource) and (source.path / GROUND_TRUTH_FILE).is_file():
        try:
            gt = load_ground_truth(source.path / GROUND_TRUTH_FILE)
        except (OSError, ValueError, KeyError):
            return []
        truth, n, fps = gt.truth, len(source), source.fps
    else:
        return []
    return quiet_cuts(((t.seq, t.vehicle_id) for t in truth), n, int(time_delta_s * fps) + 1)


UNBOUNDED = 2 ** 62


def _frame_estimate(source) -> Optional[int]:
    import cv2

    path, every = getattr(source, "path", None), max(1, int(getattr(source, "every_nth", 1) or 1))
    if path is None:
        return None
    cap = cv2.VideoCapture(str(path))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    return -(-count // every) if count > 0 else None


def frames_factory(settings, what: str = "frames", start_ts: Optional[float] = None):
    """For :func:`alpr.pipelines.graph.run` (``frames=``): the configured bounded source read
    live with a progress bar. Returns (factory, close) or (None, no-op) where it does not apply
    (Kafka source, or a runner other than the embedded one)."""
    from alpr.connectors.camera.sources import open_source

    if settings.source == "kafka" or settings.runner != "direct":
        return None, lambda: None
    spec = settings.source
    kw = dict(seed=settings.seed, start_ts=start_ts or time.time()) if spec.startswith("synthetic") else {}
    source = open_source(spec, camera_id=settings.camera_id, agency=settings.agency, **kw)
    try:
        n = len(source)
    except TypeError:  # a video: read to its end; its frame count is only an estimate for the ETA
        n = None
    bar = Progress(what, total=n or _frame_estimate(source), unit="frames")
    cuts = source_cuts(source, settings.grouping.time_delta_s) if n else []
    live = LiveFrames(source, n or UNBOUNDED, cuts, bar)
    bar.__enter__()

    def close() -> None:
        bar.__exit__(None, None, None)
        live.close()

    return (lambda p: p | "ReadFrames" >> live), close
