"""Agency-scoped live matching through the real pipeline on the embedded default (issue 12 item 4):
synthetic clip of agency B's camera -> Beam DirectRunner -> alerts, with hotlist entries of agency A
and C and agreements recorded in the governance store ($ALPR_GOV_DB_PATH). Only the entries an
approved, unexpired agreement extends to B alert, and B sees no description or case number."""

from __future__ import annotations

import json
import time

from alpr.config import load_settings
from alpr.connectors.camera.synthetic import SyntheticCamera
from alpr.connectors.stores import open_store
from alpr.governance.registry import curated
from alpr.pipelines.graph import run
from alpr.records import HotlistEntry

from governance_helpers import HOME, OTHER, Clock, bootstrap, make_gov

A, B, C = HOME, OTHER, "CCPD"
DAY = 86_400
N_VEHICLES, SEED = 1, 23  # one vehicle: every entry below is on its plate


def _agreement(gov, proposer, approver, owner, partner, code, *, approve=True):
    now = gov.clock()
    a = gov.agreements.propose(proposer, owner_agency=owner, partner_agency=partner, document_ref=f"MOU-{code}",
                               start_ts=now - 60, expires_ts=now + 2 * DAY, list_codes=[code])
    if approve:
        gov.agreements.review(approver, a.agreement_id, True)
    return a


def test_only_entries_an_approved_unexpired_agreement_extends_alert_on_the_partners_camera(tmp_path, monkeypatch):
    clock = Clock(time.time() - 10 * DAY)  # the WARRANT agreement is made (and expires) in the past
    gov = make_gov(clock, db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "gov-reads.db"))
    gov.store.put_agency(curated(C))
    ad = {ag: bootstrap(gov, ag)[0] for ag in (A, B, C)}
    _agreement(gov, ad[A], ad[B], A, B, "WARRANT")                         # expired 8 days ago
    clock.t = time.time()
    _agreement(gov, ad[A], ad[B], A, B, "STOLEN")                          # approved: extends
    revoked = _agreement(gov, ad[A], ad[B], A, B, "GANG")
    gov.agreements.revoke(ad[A], revoked.agreement_id, "ended")            # revoked: does not
    _agreement(gov, ad[B], ad[A], A, B, "PENDING", approve=False)          # proposed only: does not
    _agreement(gov, ad[C], ad[A], C, A, "STOLEN")                          # C -> A, not B: does not
    gov.close()

    settings = load_settings(source=f"synthetic:{N_VEHICLES}", camera_id="cam-b", agency=B, seed=SEED,
                             store=f"sqlite:{tmp_path}/alpr.db", alerts_sink=f"jsonl:{tmp_path}/alerts.jsonl",
                             print_results=False)
    (plate,) = [v.plate for v in SyntheticCamera("cam-b", B, n_vehicles=N_VEHICLES, seed=SEED).vehicles]
    now = time.time()
    lists = [("STOLEN", A), ("GANG", A), ("PENDING", A), ("STOLEN", C), ("WARRANT", A), ("FELONY", A)]
    entries = [HotlistEntry(f"e{i}-{owner}", plate, code, agency=owner, description=f"{owner} informant {i}",
                            case_number=f"{owner}-26-{i}", covert=True, created_ts=now)
               for i, (code, owner) in enumerate(lists)]
    store = open_store(settings.store)
    store.upsert_entries(entries)
    store.close()

    monkeypatch.setenv("ALPR_GOV_DB_PATH", str(tmp_path / "gov.db"))
    run(settings)

    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [(a["read_plate"], a["entry_id"]) for a in alerts] == [(plate, f"e0-{A}")]
    (alert,) = alerts
    assert (alert["agency"], alert["entry_agency"], alert["list_code"]) == (B, A, "STOLEN")
    assert (alert["description"], alert["case_number"]) == ("", "")  # A's details stay with A
    store = open_store(settings.store)
    (stored,) = store.get_alerts(agency=B)
    assert (stored.description, stored.case_number) == ("", "")
    store.close()
