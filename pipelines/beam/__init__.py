"""Apache Beam binding of the engine-neutral stages (:mod:`alpr.pipelines.core`).

Beam runs the embedded default (``alpr demo`` / ``alpr run`` on the in-process FnApiRunner)
and bounded backfills or replays (a folder, a video, a bounded slice of the frames topic).
The long-running streaming job is the Flink binding (``alpr.pipelines.flink``).
"""
