"""Compatibility imports: the Beam transforms live in :mod:`alpr.pipelines.beam` (a thin binding
of the engine-neutral stages in :mod:`alpr.pipelines.core`)."""

from alpr.pipelines.beam.sinks import (WriteAlerts, WriteDeadLetters, WriteGroups, WriteReads,  # noqa: F401
                                       print_alert, print_group, print_read)
from alpr.pipelines.beam.stages import (CONFIRMED, NS, TIMER_RESOLUTION_S, DecodeFrames, DedupeAlerts,  # noqa: F401
                                        GroupPlates, MatchHotlist, ReadFrames, RecognizePlates, _DedupeFn,
                                        _GroupFn, _MatchFn, _timer_ts, release_store, shared_store)
from alpr.pipelines.core.deadletters import dead_letter  # noqa: F401
from alpr.pipelines.core.matching import group_alert  # noqa: F401
from alpr.pipelines.core.recognize import BackendFactory as _BackendFactory  # noqa: F401
from alpr.records import DEAD  # noqa: F401


def backend_factory(spec: str) -> _BackendFactory:
    return _BackendFactory(spec)
