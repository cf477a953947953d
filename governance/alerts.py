"""Alert workflow (461.3(f); field notes 5): new → acknowledged → verified (CLETS/NCIC
confirmation with who and when) → accepted | rejected (with reason) → disposed.

An enforcement action can only be recorded on an alert that is *accepted*, i.e. verified
with a confirmed CLETS/NCIC response and a human visual check of plate and state.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Optional

from alpr.connectors.stores.base import ReadStore
from alpr.records import Alert

from .errors import Conflict, NotFound, ValidationError
from .guard import Guard
from .models import AlertEvent, AlertWorkflow, User
from .roles import Action

NEW, ACKNOWLEDGED, VERIFIED, ACCEPTED, REJECTED, DISPOSED = (
    "new", "acknowledged", "verified", "accepted", "rejected", "disposed")
STATES = (NEW, ACKNOWLEDGED, VERIFIED, ACCEPTED, REJECTED, DISPOSED)
VERIFICATION_SYSTEMS = ("CLETS", "NCIC")
ENFORCEMENT_DISPOSITIONS = frozenset({"ARREST", "CITATION", "VEHICLE-RECOVERED", "STOP-DETAINED", "TOW"})
NON_ENFORCEMENT_DISPOSITIONS = frozenset({"NO-ACTION", "MISREAD", "NOT-LOCATED", "ENTRY-CLEARED", "UNFOUNDED"})
HIT_PURPOSE = "HOTLIST-HIT"


class AlertWorkflowService:
    def __init__(self, guard: Guard, reads: ReadStore, clock: Callable[[], float] = time.time):
        self.guard, self.reads, self.clock = guard, reads, clock
        self.store = guard.auth.store

    # -- queries -------------------------------------------------------------------
    def list_alerts(self, user: User, purpose_code: Optional[str], case_number: Optional[str],
                    note: Optional[str] = None, channel: str = "api") -> list[tuple[Alert, AlertWorkflow]]:
        elements = {"alerts_of_agency": user.agency}
        purpose = self.guard.check_with_purpose(user, Action.VIEW_ALERTS, purpose_code, case_number, note,
                                                channel=channel, data_elements=elements)
        out = [(a, self.workflow_of(a)) for a in self.reads.get_alerts(agency=user.agency)]
        self.guard.log.record(username=user.username, agency=user.agency, action="list_alerts",
                              data_elements={**elements, "result_count": len(out),
                                             "plates": sorted({a.read_plate for a, _ in out})},
                              purpose=purpose, channel=channel)
        self._owner_side(user, [a for a, _ in out], "list_alerts", channel, purpose.case_number)
        return out

    def _owner_side(self, user: User, alerts: list[Alert], action: str, channel: str, case_number: str = "") -> None:
        """An alert that another agency's entry raised on this agency's camera (an agreement
        extended the entry): the access is logged on the entry owner's side too, once per owner."""
        by_owner: dict[str, list[str]] = {}
        for a in alerts:
            if a.entry_agency and a.entry_agency != user.agency:
                by_owner.setdefault(a.entry_agency, []).append(a.alert_id)
        for owner, ids in sorted(by_owner.items()):
            self.guard.log.record(username=f"{user.agency}:{user.username}", agency=owner, action=f"partner_{action}",
                                  data_elements={"alert_ids": ids[:100], "count": len(ids), "camera_agency": user.agency},
                                  purpose_code=HIT_PURPOSE, case_number=case_number, channel=channel)

    def workflow_of(self, alert: Alert) -> AlertWorkflow:
        return self.store.get_workflow(alert.alert_id) or AlertWorkflow(alert.alert_id, alert.agency, NEW)

    def history(self, user: User, alert_id: str, channel: str = "api") -> list[AlertEvent]:
        alert, _ = self._load(user, alert_id, Action.VIEW_ALERTS, channel)
        events = self.store.alert_events(alert.alert_id)
        self.guard.log.record(username=user.username, agency=user.agency, action="alert_history",
                              data_elements={"alert_id": alert_id, "plate": alert.read_plate,
                                             "events": len(events)},
                              purpose_code=HIT_PURPOSE, case_number=alert.case_number or "", channel=channel)
        self._owner_side(user, [alert], "alert_history", channel, alert.case_number or "")
        return events

    def _load(self, user: User, alert_id: str, action: Action, channel: str) -> tuple[Alert, AlertWorkflow]:
        self.guard.check(user, action, channel=channel, data_elements={"alert_id": alert_id})
        matches = [a for a in self.reads.get_alerts(agency=user.agency) if a.alert_id == alert_id]
        alert = matches[0] if matches else None  # other agencies' alerts are invisible (no IDOR)
        alert = self.guard.owned(user, action, alert, alert.agency if alert else None, f"alert {alert_id!r}",
                                 channel=channel, data_elements={"alert_id": alert_id})
        return alert, self.workflow_of(alert)

    # -- transitions ---------------------------------------------------------------
    def _refusing(self, user: User, wf: AlertWorkflow, step: str, channel: str):
        """Log a refused step (bad input, wrong state) as ``alert_<step>``, denied."""
        return self.guard.refusing(user, f"alert_{step}", channel, {"alert_id": wf.alert_id}, HIT_PURPOSE,
                                   wf.incident_number)

    def _move(self, user: User, alert: Alert, wf: AlertWorkflow, to_state: str, allowed_from: tuple[str, ...],
              channel: str, detail: dict, **changes) -> AlertWorkflow:
        if wf.state not in allowed_from:
            exc = Conflict(f"alert {alert.alert_id} is {wf.state}; {to_state} needs one of {list(allowed_from)}")
            self.guard.deny(user, f"alert_{to_state}", exc, channel, {"alert_id": alert.alert_id},
                            HIT_PURPOSE, wf.incident_number)
            raise exc
        now = self.clock()
        new = replace(wf, state=to_state, updated_ts=now, **changes)
        event = AlertEvent(alert.alert_id, len(self.store.alert_events(alert.alert_id)) + 1, wf.state, to_state,
                           user.username, now, detail)
        self.store.save_workflow(new, event)
        self.guard.log.record(username=user.username, agency=user.agency, action=f"alert_{to_state}",
                              data_elements={"alert_id": alert.alert_id, "plate": alert.read_plate, **detail},
                              purpose_code=HIT_PURPOSE, case_number=new.incident_number, channel=channel)
        self._owner_side(user, [alert], f"alert_{to_state}", channel, new.incident_number)
        return new

    def acknowledge(self, user: User, alert_id: str, incident_number: str, channel: str = "api") -> AlertWorkflow:
        alert, wf = self._load(user, alert_id, Action.WORK_ALERTS, channel)
        purpose = self.guard.purpose(user, Action.WORK_ALERTS, HIT_PURPOSE, incident_number, None,
                                     channel=channel, data_elements={"alert_id": alert_id})
        return self._move(user, alert, wf, ACKNOWLEDGED, (NEW,), channel, {}, incident_number=purpose.case_number)

    def verify(self, user: User, alert_id: str, system: str, reference: str, confirmed: bool,
               visual_check: bool, channel: str = "api") -> AlertWorkflow:
        """Record the CLETS/NCIC confirmation (who, when, reference) and the visual plate/state check."""
        alert, wf = self._load(user, alert_id, Action.WORK_ALERTS, channel)
        system = (system or "").upper()
        with self._refusing(user, wf, VERIFIED, channel):
            if system not in VERIFICATION_SYSTEMS:
                raise ValidationError(f"verification system must be one of {VERIFICATION_SYSTEMS}")
            if not (reference or "").strip():
                raise ValidationError("the CLETS/NCIC response reference is required")
        return self._move(user, alert, wf, VERIFIED, (ACKNOWLEDGED,), channel,
                          {"system": system, "reference": reference.strip(), "confirmed": bool(confirmed),
                           "visual_check": bool(visual_check)},
                          verified_by=user.username, verified_ts=self.clock(), verification_system=system,
                          verification_reference=reference.strip(), verification_confirmed=bool(confirmed),
                          visual_check=bool(visual_check))

    def accept(self, user: User, alert_id: str, channel: str = "api") -> AlertWorkflow:
        alert, wf = self._load(user, alert_id, Action.WORK_ALERTS, channel)
        with self._refusing(user, wf, ACCEPTED, channel):
            if wf.state == VERIFIED and not (wf.verification_confirmed and wf.visual_check):
                raise Conflict("an alert can only be accepted after a confirmed CLETS/NCIC response and a visual "
                               "check of plate and state; reject it instead")
        return self._move(user, alert, wf, ACCEPTED, (VERIFIED,), channel, {})

    def reject(self, user: User, alert_id: str, reason: str, channel: str = "api") -> AlertWorkflow:
        alert, wf = self._load(user, alert_id, Action.WORK_ALERTS, channel)
        with self._refusing(user, wf, REJECTED, channel):
            if not (reason or "").strip():
                raise ValidationError("a reject reason is required")
        return self._move(user, alert, wf, REJECTED, (ACKNOWLEDGED, VERIFIED), channel, {"reason": reason.strip()},
                          decision_reason=reason.strip())

    def record_enforcement(self, user: User, alert_id: str, action: str, channel: str = "api") -> AlertWorkflow:
        alert, wf = self._load(user, alert_id, Action.WORK_ALERTS, channel)
        with self._refusing(user, wf, "enforcement", channel):
            if not (action or "").strip():
                raise ValidationError("describe the enforcement action")
        if wf.state != ACCEPTED or not wf.verification_confirmed:
            exc = Conflict("an enforcement action cannot be recorded on an unverified alert "
                           "(policy 461.3(f): verify through CLETS first)")
            self.guard.deny(user, "alert_enforcement", exc, channel, {"alert_id": alert_id}, HIT_PURPOSE,
                            wf.incident_number)
            raise exc
        now = self.clock()
        new = replace(wf, enforcement_action=action.strip(), updated_ts=now)
        event = AlertEvent(alert_id, len(self.store.alert_events(alert_id)) + 1, wf.state, wf.state,
                           user.username, now, {"enforcement": action.strip()})
        self.store.save_workflow(new, event)
        self.guard.log.record(username=user.username, agency=user.agency, action="alert_enforcement",
                              data_elements={"alert_id": alert_id, "plate": alert.read_plate},
                              purpose_code=HIT_PURPOSE, case_number=wf.incident_number, channel=channel)
        self._owner_side(user, [alert], "alert_enforcement", channel, wf.incident_number)
        return new

    def dispose(self, user: User, alert_id: str, disposition: str, channel: str = "api") -> AlertWorkflow:
        alert, wf = self._load(user, alert_id, Action.WORK_ALERTS, channel)
        disposition = (disposition or "").upper()
        with self._refusing(user, wf, DISPOSED, channel):
            if disposition not in ENFORCEMENT_DISPOSITIONS | NON_ENFORCEMENT_DISPOSITIONS:
                raise ValidationError(f"disposition must be one of "
                                      f"{sorted(ENFORCEMENT_DISPOSITIONS | NON_ENFORCEMENT_DISPOSITIONS)}")
        if disposition in ENFORCEMENT_DISPOSITIONS and not (wf.state == ACCEPTED and wf.verification_confirmed):
            exc = Conflict(f"disposition {disposition} is an enforcement action and needs a verified, accepted alert")
            self.guard.deny(user, "alert_disposed", exc, channel, {"alert_id": alert_id}, HIT_PURPOSE,
                            wf.incident_number)
            raise exc
        return self._move(user, alert, wf, DISPOSED, (ACCEPTED, REJECTED), channel, {"disposition": disposition},
                          disposition=disposition)
