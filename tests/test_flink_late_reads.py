"""The Flink job's grouping operator with reads that arrive behind the watermark (no cluster).

Seen on the cluster (tests/test_flink_faults.py, Cassandra stopped mid-stream): a camera's
partition that was idle resumes while another partition's frames move the watermark on, so
the camera's reads reach ``GroupAndMatch`` late. An event-time timer behind the watermark
fires only at the next watermark, which a quiet stream never sends: the vehicle's group stayed
open and never reached the store. Late groups now close on a processing-time timer,
``time_delta_s`` after the last late read, so that a burst of late reads is still one group.

Runs ``GroupAndMatch`` in the Flink job environment (PyFlink is not in the project venv) with
stand-ins for Flink's state and timer service.
"""
from __future__ import annotations

import json
import subprocess

import pytest

SCRIPT = r'''
import json
from pyflink.datastream import TimeDomain
from alpr.config import load_settings
from alpr.pipelines.flink import operators as op
from alpr.records import PlateRead, stable_id

class State:
    def __init__(self): self.v = None
    def value(self): return self.v
    def update(self, v): self.v = v
    def clear(self): self.v = None

class Timers:
    wm, now = -2 ** 63, 1000
    def __init__(self): self.event, self.proc = set(), set()
    def current_watermark(self): return self.wm
    def current_processing_time(self): return self.now
    def register_event_time_timer(self, t): self.event.add(t)
    def delete_event_time_timer(self, t): self.event.discard(t)
    def register_processing_time_timer(self, t): self.proc.add(t)
    def delete_processing_time_timer(self, t): self.proc.discard(t)

class Ctx:
    def __init__(self, timers, domain=None): self.timers, self.domain = timers, domain
    def timer_service(self): return self.timers
    def time_domain(self): return self.domain
    def get_broadcast_state(self, desc): return {}

class Metrics:
    def counter(self, name): return self
    def gauge(self, name, fn): return self
    def add_group(self, name): return self
    def inc(self, n=1): pass

class Runtime:
    def get_state(self, desc): return State()
    def get_metrics_group(self): return Metrics()

def read(seq, ts):
    return PlateRead(read_id=stable_id("read", seq), frame_id=f"cam:{seq}", camera_id="cam", agency="AG",
                     capture_ts=ts, plate="ABC123", confidence=0.9, coordinates=((0, 0), (1, 0), (1, 1), (0, 1)),
                     candidates=(), seq=seq)

def fire(g, t, domain, timers):
    (timers.proc if domain == TimeDomain.PROCESSING_TIME else timers.event).discard(t)
    return [x[1] for x in g.on_timer(t, Ctx(timers, domain)) if isinstance(x, tuple)]

out = {}
g = op.GroupAndMatch(load_settings())
g.open(Runtime())
t = Timers()
t.wm = 200_000  # the watermark is already past the reads below
for i in range(4):
    list(g.process_element(read(i, 100 + i * 0.5), Ctx(t)))
out["late"] = {"event": sorted(t.event), "proc": sorted(t.proc)}
t.now += 10000
closed = fire(g, max(t.proc), TimeDomain.PROCESSING_TIME, t)
out["late_closed"] = [[c.frame_start, c.frame_end, c.num_reads] for c in closed]
out["after"] = {"event": sorted(t.event), "proc": sorted(t.proc)}
t.wm = 300_000
list(g.process_element(read(10, 301.0), Ctx(t)))
out["on_time"] = {"event": sorted(t.event), "proc": sorted(t.proc)}
t.wm = 400_000
closed = fire(g, max(t.event), TimeDomain.EVENT_TIME, t)
out["on_time_closed"] = [[c.frame_start, c.frame_end, c.num_reads] for c in closed]
print("RESULT " + json.dumps(out))
'''


def test_late_reads_form_one_group_that_closes_on_processing_time():
    from alpr.pipelines.flink.locate import flink_paths

    paths = flink_paths()
    if not paths.python.exists():
        pytest.skip(f"no Flink job environment at {paths.python} (make services-fetch)")
    proc = subprocess.run([str(paths.python), "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    grace = 4500  # grouping.time_delta_s (default 4.5 s)
    # late: no event-time timer (it would wait for a watermark that may never come), one
    # processing-time timer, moved on by each late read
    assert out["late"] == {"event": [], "proc": [1000 + grace]}
    assert out["late_closed"] == [[0, 3, 4]]  # the four late reads: one group
    assert out["after"] == {"event": [], "proc": []}
    # on time: the event-time timer at the group's deadline, as before
    assert out["on_time"]["proc"] == [] and len(out["on_time"]["event"]) == 1
    assert out["on_time_closed"] == [[10, 10, 1]]
