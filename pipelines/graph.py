"""Compatibility imports: the Beam pipeline graph lives in :mod:`alpr.pipelines.beam.graph`."""

from alpr.pipelines.beam.graph import COUNTERS, RunSummary, build, finished_ok, pipeline_options, run  # noqa: F401
