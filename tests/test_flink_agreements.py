"""The Flink job's matching operator with hotlist agreements (issue 12 item 4; no cluster).

A TaskManager that cannot read the governance file applies the grants it was submitted with,
and the agreement changes that arrive on the hotlist topic: a revocation's tombstone removes a
submitted grant, a later approval adds one (through the job's own ``ParseHotlist`` parser).

``GroupAndMatch`` gets the grants loaded when the job is submitted and the governance file's
path; it reloads the grants from that file every ``hotlist_refresh_s`` where the TaskManager can
read it (here: the same machine), and keeps the submitted grants where it cannot. Runs the
operator in the Flink job environment (PyFlink is not in the project venv) with stand-ins for
Flink's state and timer service, as tests/test_flink_late_reads.py does.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from alpr.governance.agreement_feed import agreement_change
from governance_helpers import HOME, OTHER, bootstrap, make_gov

SCRIPT = r'''
import json, sys
from alpr.config import load_settings
from alpr.pipelines.core.agreements import AgreementGrant
from alpr.pipelines.flink import operators as op
from alpr.records import Alert, Candidate, HotlistEntry, PlateRead, stable_id

DB, A, B, T0, AID = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]

class State:
    def __init__(self): self.v = None
    def value(self): return self.v
    def update(self, v): self.v = v
    def clear(self): self.v = None

class Timers:
    def current_watermark(self): return -2 ** 63
    def current_processing_time(self): return 0
    def register_event_time_timer(self, t): pass
    def delete_event_time_timer(self, t): pass
    def register_processing_time_timer(self, t): pass
    def delete_processing_time_timer(self, t): pass

class BroadcastState(dict):
    def put(self, k, v): self[k] = v

class Ctx:
    timers = Timers()
    state = BroadcastState()
    def timer_service(self): return self.timers
    def get_broadcast_state(self, desc): return self.state

class Metrics:
    def counter(self, name): return self
    def gauge(self, name, fn): return self
    def add_group(self, name): return self
    def inc(self, n=1): pass

class Runtime:
    def get_state(self, desc): return State()
    def get_metrics_group(self): return Metrics()

ENTRY = HotlistEntry("a-covert", "5HOM001", "STOLEN", agency=A, description="informant", case_number="A-26-1")

def alerts(g, camera, t0):
    out = []
    for i in range(3):
        r = PlateRead(read_id=stable_id("r", camera, t0, i), frame_id=f"{camera}:{i}", camera_id=camera, agency=B,
                      capture_ts=t0 + i * 0.25, plate="5HOM001", confidence=95.0, coordinates=(),
                      candidates=(Candidate("5HOM001", 95.0),), seq=i)
        out += [x for x in g.process_element(r, Ctx()) if isinstance(x, Alert)]
    return [[a.agency, a.entry_agency, a.description, a.case_number] for a in out]

def operator(db, initial=()):
    g = op.GroupAndMatch(load_settings(hotlist_refresh_s=0), [ENTRY], initial, db)
    g.open(Runtime())
    return g

g = operator(DB)
print("RESULT " + json.dumps({"approved": alerts(g, "cam-1", T0)}), flush=True)
sys.stdin.readline()  # the test revokes the agreement in the governance store
print("RESULT " + json.dumps({"revoked": alerts(g, "cam-2", T0 + 60)}), flush=True)
grant = AgreementGrant(A, B, T0 - 3600, T0 + 86400, frozenset({"STOLEN"}), AID)  # as submitted
remote = operator("/nonexistent/governance.db", (grant,))  # a TaskManager that cannot read the file
print("RESULT " + json.dumps({"remote": alerts(remote, "cam-3", T0 + 120)}), flush=True)

def topic_change(g):  # one hotlist-topic message from the test, through the job's own parser
    msg = json.loads(sys.stdin.readline())
    parse = op.ParseHotlist()
    parse.open(None)
    change = parse.parse(msg["key"].encode(), msg["value"].encode() if msg["value"] else None, ts=T0)
    g.process_broadcast_element(change, Ctx())
    return type(change).__name__, change.op

revoke = topic_change(remote)  # the revocation's tombstone wins over the submitted grant
print("RESULT " + json.dumps({"revoke": revoke, "after": alerts(remote, "cam-4", T0 + 180)}), flush=True)
fresh = operator("/nonexistent/governance.db")  # submitted before the agreement was approved
before = alerts(fresh, "cam-5", T0 + 240)
approve = topic_change(fresh)
print("RESULT " + json.dumps({"before": before, "approve": approve, "after": alerts(fresh, "cam-6", T0 + 300)}),
      flush=True)
'''


def _send(proc, change) -> None:
    from alpr.connectors.kafka_hotlist import change_message

    key, value = change_message(change)
    proc.stdin.write(json.dumps({"key": key.decode(), "value": value.decode() if value else None}) + "\n")
    proc.stdin.flush()


def _result(proc) -> dict:
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(proc.stderr.read()[-3000:])
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])


def test_group_and_match_applies_approved_agreements_and_drops_revoked_ones(tmp_path):
    from alpr.pipelines.flink.locate import flink_paths

    paths = flink_paths()
    if not paths.python.exists():
        pytest.skip(f"no Flink job environment at {paths.python} (make services-fetch)")
    gov = make_gov(db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"))
    a_admin, b_admin = bootstrap(gov, HOME)[0], bootstrap(gov, OTHER)[0]
    now = time.time()
    agreement = gov.agreements.propose(a_admin, owner_agency=HOME, partner_agency=OTHER, document_ref="MOU-9",
                                       start_ts=now - 60, expires_ts=now + 86_400, list_codes=["STOLEN"])
    approved = gov.agreements.review(b_admin, agreement.agreement_id, True)
    proc = subprocess.Popen([str(paths.python), "-c", SCRIPT, str(tmp_path / "gov.db"), HOME, OTHER, str(now),
                             agreement.agreement_id],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # B's camera alerts on A's entry under the approved agreement, without A's details
        assert _result(proc) == {"approved": [[OTHER, HOME, "", ""]]}
        gov.agreements.revoke(a_admin, agreement.agreement_id, "ended")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert _result(proc) == {"revoked": []}  # reloaded from the file (refresh 0 s): no alert
        # where the file is out of reach, the grants loaded at submission apply
        assert _result(proc) == {"remote": [[OTHER, HOME, "", ""]]}
        # ... until the hotlist topic carries the revocation (a tombstone of agreement:<id>)
        revoked = gov.store.get_agreement(agreement.agreement_id)
        _send(proc, agreement_change(revoked, "revoke"))
        assert _result(proc) == {"revoke": ["AgreementChange", "remove"], "after": []}
        # and an approval published after the job was submitted extends the entries at once
        _send(proc, agreement_change(approved, "approve"))
        assert _result(proc) == {"before": [], "approve": ["AgreementChange", "upsert"],
                                 "after": [[OTHER, HOME, "", ""]]}
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        gov.close()
