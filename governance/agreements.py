"""Hotlist (live-matching) agreements between two agencies (issue 12 items 1 and 4).

An agency's hotlist entries alert only on its own cameras. A written agreement extends them:
the entries of the *owner* agency (optionally only some of its lists) also alert on the cameras
of the *partner* agency, inside a bounded validity window. One of the two agencies proposes;
the OTHER agency's administrator or designee approves or rejects it (both sides act, nobody
approves their own proposal); either side may revoke it at any time. Both agencies must be
California public agencies registered and active on the platform (checked from the curated
list, never from stored labels) at proposal and again at approval.

Each step is written to the access log of both agencies (1798.90.52: who, which agency, why,
what), and every refusal is logged. A third agency sees an agreement exactly as a missing one
(404). The engines read the approved, unexpired agreements through
:func:`alpr.governance.agreement_feed.load_grants` (see :mod:`alpr.pipelines.core.agreements`);
with ``on_change`` (``alpr serve`` with ``ALPR_GOV_HOTLIST_KAFKA``) every approval, revocation and
expiry is also published to the hotlist topic, which a running Flink job follows.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import asdict, replace
from typing import Callable, Iterable, Optional

from .errors import Conflict, PermissionDenied, PolicyViolation, ValidationError
from .guard import Guard
from .models import HotlistAgreement, User
from .roles import Action
from .sharing import registry_eligibility

DAY_S = 86_400
MAX_LIST_CODES = 20
_LIST_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
_DOC_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/#:-]{2,127}")


class AgreementService:
    def __init__(self, guard: Guard, max_days: int = 365, california_only: bool = True,
                 clock: Callable[[], float] = time.time,
                 on_change: Optional[Callable[[HotlistAgreement, str], None]] = None):
        self.guard, self.max_days, self.california_only, self.clock = guard, max_days, california_only, clock
        self.store = guard.auth.store
        self.on_change = on_change  # (agreement, reason) after the store has it: approve | revoke | expire

    def _changed(self, a: HotlistAgreement, reason: str) -> None:
        if self.on_change is not None:
            self.on_change(a, reason)

    # ------------------------------------------------------------------ checks
    def _eligible(self, agency_id: str) -> None:
        ok, why = registry_eligibility(agency_id, self.california_only)
        stored = self.store.get_agency(agency_id) if ok else None
        if ok and (stored is None or not stored.active):
            ok, why = False, f"agency {agency_id!r} is not registered on the platform as an active agency"
        if not ok:
            raise PolicyViolation(why)

    def _check_window(self, start_ts: Optional[float], expires_ts: Optional[float]) -> None:
        if start_ts is None or expires_ts is None:
            raise ValidationError("an agreement needs a validity window: start and expiry")
        if expires_ts <= start_ts:
            raise ValidationError("the agreement must expire after it starts")
        if expires_ts - start_ts > self.max_days * DAY_S:
            raise ValidationError(f"an agreement may run at most {self.max_days} days")
        if expires_ts <= self.clock():
            raise ValidationError("the agreement has already expired")

    @staticmethod
    def _list_codes(codes: Optional[Iterable[str]]) -> tuple[str, ...]:
        out = tuple(sorted({(c or "").strip().upper() for c in (codes or ()) if (c or "").strip()}))
        if len(out) > MAX_LIST_CODES:
            raise ValidationError(f"an agreement names at most {MAX_LIST_CODES} list codes")
        bad = [c for c in out if not _LIST_CODE.fullmatch(c)]
        if bad:
            raise ValidationError(f"{bad[0]!r} is not a list code")
        return out

    def _log_both(self, user: User, a: HotlistAgreement, action: str, channel: str,
                  extra: Optional[dict] = None) -> None:
        """The step in the acting agency's log and in the other agency's log."""
        elements = {"agreement_id": a.agreement_id, "owner": a.owner_agency, "partner": a.partner_agency,
                    "list_codes": list(a.list_codes), "document_ref": a.document_ref, "start_ts": a.start_ts,
                    "expires_ts": a.expires_ts, "status": a.status, "acting_agency": user.agency, **(extra or {})}
        other = a.partner_agency if user.agency == a.owner_agency else a.owner_agency
        self.guard.log.record(username=user.username, agency=user.agency, action=action,
                              data_elements=elements, purpose_code="AGREEMENT", channel=channel)
        self.guard.log.record(username=f"{user.agency}:{user.username}", agency=other, action=action,
                              data_elements=elements, purpose_code="AGREEMENT", channel=channel)

    def _mine(self, user: User, agreement_id: str, channel: str, verb: str) -> HotlistAgreement:
        elements = {"agreement_id": agreement_id}
        self.guard.check(user, Action.MANAGE_AGREEMENTS, channel=channel, data_elements=elements)
        a = self.store.get_agreement(agreement_id)
        return self.guard.party(user, f"agreement_{verb}", a, a.parties() if a else (), "such agreement",
                                channel=channel, data_elements=elements)

    # ------------------------------------------------------------------ steps
    def propose(self, user: User, *, owner_agency: str, partner_agency: str, document_ref: str,
                start_ts: Optional[float], expires_ts: Optional[float], list_codes: Iterable[str] = (),
                note: str = "", channel: str = "api") -> HotlistAgreement:
        owner, partner = (owner_agency or "").strip().upper(), (partner_agency or "").strip().upper()
        list_codes = list(list_codes or ())
        elements = {"owner": owner, "partner": partner, "document_ref": document_ref, "start_ts": start_ts,
                    "expires_ts": expires_ts, "list_codes": list_codes}
        self.guard.check(user, Action.MANAGE_AGREEMENTS, channel=channel, data_elements=elements)
        with self.guard.refusing(user, "agreement_propose", channel, elements, purpose_code="AGREEMENT"):
            if user.agency not in (owner, partner):
                raise PermissionDenied("an agency proposes agreements to which it is a party")
            if owner == partner:
                raise ValidationError("an agreement is between two different agencies")
            if not _DOC_REF.fullmatch((document_ref or "").strip()):
                raise ValidationError("the written agreement's reference (document id or number, 3-128 "
                                      "characters) is required")
            if len(note or "") > 500:
                raise ValidationError("note: at most 500 characters")
            codes = self._list_codes(list_codes)
            self._check_window(start_ts, expires_ts)
            self._eligible(owner)
            self._eligible(partner)
        a = HotlistAgreement(uuid.uuid4().hex[:16], owner, partner, document_ref.strip(), float(start_ts),
                             float(expires_ts), "proposed", user.username, user.agency, self.clock(), codes,
                             (note or "").strip())
        self.store.put_agreement(a)
        self._log_both(user, a, "agreement_propose", channel)
        return a

    def review(self, user: User, agreement_id: str, approve: bool, note: str = "",
               channel: str = "api") -> HotlistAgreement:
        """The OTHER agency's administrator or designee approves or rejects a proposal."""
        a = self._mine(user, agreement_id, channel, "review")
        with self.guard.refusing(user, "agreement_review", channel, {"agreement_id": agreement_id},
                                 purpose_code="AGREEMENT"):
            if a.status != "proposed":
                raise Conflict(f"agreement {agreement_id} is {a.status}; only a proposed agreement can be reviewed")
            if user.agency == a.proposed_agency:
                raise PermissionDenied("the other agency approves an agreement, never the agency that proposed it")
            if approve:  # eligibility and window again at approval
                self._eligible(a.owner_agency)
                self._eligible(a.partner_agency)
                self._check_window(a.start_ts, a.expires_ts)
        a = replace(a, status="approved" if approve else "rejected", reviewed_by=user.username,
                    reviewed_agency=user.agency, reviewed_ts=self.clock(), review_note=(note or "")[:500])
        self.store.put_agreement(a)
        self._log_both(user, a, "agreement_review", channel, {"decision": a.status})
        if approve:
            self._changed(a, "approve")
        return a

    def revoke(self, user: User, agreement_id: str, reason: str = "", channel: str = "api") -> HotlistAgreement:
        """Either party ends a proposed or approved agreement (the engines stop at their next refresh)."""
        a = self._mine(user, agreement_id, channel, "revoke")
        with self.guard.refusing(user, "agreement_revoke", channel, {"agreement_id": agreement_id},
                                 purpose_code="AGREEMENT"):
            if a.status not in ("proposed", "approved"):
                raise Conflict(f"agreement {agreement_id} is {a.status}; nothing to revoke")
        a = replace(a, status="revoked", revoked_by=user.username, revoked_agency=user.agency,
                    revoked_ts=self.clock(), revoke_reason=(reason or "")[:500])
        self.store.put_agreement(a)
        self._log_both(user, a, "agreement_revoke", channel, {"reason": a.revoke_reason})
        self._changed(a, "revoke")
        return a

    def get(self, user: User, agreement_id: str, channel: str = "api") -> HotlistAgreement:
        a = self._mine(user, agreement_id, channel, "view")
        self.guard.log.record(username=user.username, agency=user.agency, action="agreement_view",
                              data_elements={"agreement_id": agreement_id}, purpose_code="ADMIN", channel=channel)
        return a

    def list(self, user: User, channel: str = "api") -> list[HotlistAgreement]:
        """Agreements the caller's agency is a party to (logged)."""
        self.guard.check(user, Action.MANAGE_AGREEMENTS, channel=channel, data_elements={"agreements_of": user.agency})
        rows = self.store.list_agreements(agency=user.agency)
        self.guard.log.record(username=user.username, agency=user.agency, action="agreement_list",
                              data_elements={"count": len(rows)}, purpose_code="ADMIN", channel=channel)
        return rows

    def expire(self, now: Optional[float] = None) -> list[str]:
        """Mark approved agreements past their expiry (maintenance; logged for both agencies). The
        engines stop applying them at expiry whether or not this has run."""
        now = self.clock() if now is None else now
        out = []
        for a in self.store.list_agreements():
            if a.status == "approved" and now >= a.expires_ts:
                a = replace(a, status="expired")
                self.store.put_agreement(a)
                for agency in a.parties():
                    self.guard.log.record(username="system", agency=agency, action="agreement_expire",
                                          data_elements={"agreement_id": a.agreement_id, **_brief(a)},
                                          purpose_code="ADMIN", channel="system")
                self._changed(a, "expire")
                out.append(a.agreement_id)
        return out


def _brief(a: HotlistAgreement) -> dict:
    d = asdict(a)
    return {k: d[k] for k in ("owner_agency", "partner_agency", "document_ref", "expires_ts")}
