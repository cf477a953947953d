"""The Flink binding: one long-running PyFlink DataStream job from the Kafka frames topic to
alerts, running the engine-neutral stages of :mod:`alpr.pipelines.core`.

* :mod:`.envelope` - the byte[] envelopes the job's small Java part exchanges with Kafka
  (pure Python; no PyFlink needed).
* :mod:`.locate`   - where the Flink home, the job environment and the jars are.
* :mod:`.operators` - the PyFlink functions (imported only inside the Flink job environment).
* :mod:`.job`      - builds the job graph; ``bin/flink run -py pipelines/flink/job.py``.
* :mod:`.options`  - the job options ``alpr run`` passes on (alert delivery: exactly-once by
  default; checkpoint dir, health topic, starting offsets, restore from a savepoint).
* :mod:`.submit`   - ``alpr run --runner flink``: submit to a cluster, follow it over REST.
"""
