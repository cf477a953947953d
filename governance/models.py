"""Typed records kept by the governance store (users, sessions, access log, workflows ...)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple


def as_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


@dataclass(frozen=True)
class Agency:
    """An agency known to the system. Sharing eligibility (1798.90.55(b), AG 2023-DLE-06)
    depends on ``kind`` (local | state | federal | private | other), ``state`` and the
    law-enforcement / prosecutorial flags."""

    agency_id: str
    name: str
    kind: str = "local"
    state: str = "CA"
    law_enforcement: bool = True
    prosecutorial: bool = False
    contact: str = ""            # the agency's own profile (edited by the agency itself)
    active: bool = True          # the platform may suspend an agency as a recipient


@dataclass(frozen=True)
class User:
    username: str
    agency: str
    role: str
    display_name: str = ""
    title: str = ""
    status: str = "pending"  # pending | active | suspended | separated
    password_hash: str = field(default="", repr=False)
    totp_secret: str = field(default="", repr=False)
    created_by: str = ""
    created_ts: float = 0.0
    approved_by: str = ""
    approved_ts: Optional[float] = None
    failed_logins: int = 0
    locked_until: Optional[float] = None
    last_activity_ts: Optional[float] = None
    status_reason: str = ""
    status_ts: Optional[float] = None  # when the account was last suspended / separated
    totp_last_step: int = 0            # last accepted TOTP time step: a code is accepted once
    enrol_token_hash: str = field(default="", repr=False)  # one-time enrolment link (SHA-256 of the token)
    enrol_expires_ts: Optional[float] = None
    reissued_by: str = ""              # who re-issued the enrolment link: may not approve the account
    reissued_ts: Optional[float] = None


@dataclass(frozen=True)
class TrainingRecord:
    username: str
    course: str
    completed_ts: float
    expires_ts: float
    recorded_by: str


@dataclass(frozen=True)
class Session:
    token_hash: str
    username: str
    created_ts: float
    expires_ts: float
    last_seen_ts: float
    channel: str = "api"


@dataclass(frozen=True)
class AccessRecord:
    """One Civ. Code 1798.90.52 access record, hash-chained to its predecessor."""

    seq: int
    ts: float
    username: str
    agency: str
    action: str
    data_elements: dict  # plate / pattern / camera / time range / ids queried
    purpose_code: str
    case_number: str
    channel: str         # api | ui | cli | system
    outcome: str         # allowed | denied
    detail: str
    prev_hash: str
    hash: str

    def body(self) -> dict:
        d = as_dict(self)
        d.pop("hash")
        return d


@dataclass(frozen=True)
class AlertEvent:
    alert_id: str
    seq: int
    from_state: str
    to_state: str
    username: str
    ts: float
    detail: dict


@dataclass(frozen=True)
class AlertWorkflow:
    alert_id: str
    agency: str
    state: str
    incident_number: str = ""
    verified_by: str = ""
    verified_ts: Optional[float] = None
    verification_system: str = ""      # CLETS | NCIC
    verification_reference: str = ""
    verification_confirmed: bool = False
    visual_check: bool = False
    decision_reason: str = ""
    disposition: str = ""
    enforcement_action: str = ""
    updated_ts: float = 0.0


@dataclass(frozen=True)
class SharingScope:
    plate_pattern: Optional[str] = None
    camera_id: Optional[str] = None
    start_ts: Optional[float] = None
    end_ts: Optional[float] = None


@dataclass(frozen=True)
class ShareDelivery:
    """What left, to whom, under which request: one row per fulfilment (``kind="fulfil"``,
    ``delivered_by`` the member who exported) and one per search of the recipient inside an
    approved grant that returned reads (``kind="search"``, ``delivered_by`` the grant's approver,
    ``received_by`` the recipient's searching user)."""

    delivery_id: str
    request_id: str
    owner_agency: str
    recipient_agency: str
    delivered_by: str
    ts: float
    read_ids: Tuple[str, ...]
    payload_sha256: str
    count: int
    kind: str = "fulfil"
    received_by: str = ""


@dataclass(frozen=True)
class SharingRequest:
    request_id: str
    owner_agency: str          # the agency whose data is requested
    requesting_agency: str     # agency_id of the recipient
    requesting_agency_name: str
    requester_name: str
    purpose_code: str
    case_number: str
    purpose_text: str
    scope: SharingScope
    status: str                # pending | approved | denied | fulfilled | expired
    created_ts: float
    entered_by: str
    expires_ts: Optional[float] = None
    reviewed_by: str = ""
    reviewed_ts: Optional[float] = None
    review_note: str = ""
    fulfilled_ts: Optional[float] = None
    fulfilled_by: str = ""
    fulfilled_count: int = 0


@dataclass(frozen=True)
class EvidenceItem:
    case_number: str
    read_id: str
    read_json: str
    image: Optional[bytes] = field(default=None, repr=False)
    held_ts: float = 0.0
    held_by: str = ""
    agency: str = ""             # the holding agency: holds are keyed by (agency, case number)


@dataclass(frozen=True)
class EvidenceHold:
    """One agency's hold on one of its case numbers; two agencies may hold the same case number
    independently (a case number is an agency's own reference, not a platform-wide key)."""

    case_number: str
    agency: str
    reason: str
    created_by: str
    created_ts: float
    custody: Tuple[dict, ...] = ()


@dataclass(frozen=True)
class RetentionSetting:
    agency: str
    days: int
    set_by: str
    set_ts: float


@dataclass(frozen=True)
class AuditSample:
    audit_id: str
    created_ts: float
    created_by: str
    period_start: float
    period_end: float
    sample_seqs: Tuple[int, ...]
    status: str = "open"            # open | signed
    findings: Tuple[dict, ...] = ()  # {"seq", "result": ok|concern, "note", "by", "ts"}
    signed_by: str = ""
    signed_ts: Optional[float] = None
    summary: str = ""
    agency: str = ""                # the audited agency: only its auditors may record findings / sign


@dataclass(frozen=True)
class PolicyVersion:
    version: str
    effective_ts: float
    elements: dict   # keys A..G of 1798.90.51(b)(2)
    text_sha256: str
    published_by: str
    published_ts: float
    public_comment_meeting: str = ""  # 1798.90.55(a) date / body of the public meeting


@dataclass(frozen=True)
class PublicCommentMeeting:
    """Civ. Code 1798.90.55(a): the regularly scheduled public meeting of the agency's governing body
    at which the public could comment on the ALPR program, before it starts."""

    agency: str
    meeting_date: str        # ISO date of the meeting
    governing_body: str      # e.g. "Desert Hot Springs City Council"
    agenda_item: str         # agenda item / resolution number
    minutes_ref: str         # where the minutes are published
    recorded_by: str
    recorded_ts: float
    live_ts: Optional[float] = None   # when the agency went live (after the meeting was recorded)
    live_by: str = ""


@dataclass(frozen=True)
class HotlistAgreement:
    """A written live-matching agreement (issue 12 items 1 and 4): the entries of ``owner_agency``
    (optionally only its lists ``list_codes``) also alert on the cameras of ``partner_agency``,
    from ``start_ts`` to ``expires_ts``. One agency proposes, the other's administrator or
    designee approves (both sides act); either side may revoke."""

    agreement_id: str
    owner_agency: str            # whose entries extend
    partner_agency: str          # whose cameras they alert on
    document_ref: str            # the written agreement (document id / number)
    start_ts: float
    expires_ts: float
    status: str                  # proposed | approved | rejected | revoked | expired
    proposed_by: str
    proposed_agency: str         # the agency whose user proposed (one of the two)
    created_ts: float
    list_codes: Tuple[str, ...] = ()   # empty: every list of the owner
    note: str = ""
    reviewed_by: str = ""
    reviewed_agency: str = ""
    reviewed_ts: Optional[float] = None
    review_note: str = ""
    revoked_by: str = ""
    revoked_agency: str = ""
    revoked_ts: Optional[float] = None
    revoke_reason: str = ""

    def parties(self) -> tuple[str, str]:
        return self.owner_agency, self.partner_agency

    def active_at(self, now: float) -> bool:
        """Approved and inside its validity window at ``now``."""
        return self.status == "approved" and self.start_ts <= now < self.expires_ts
