"""Roles and the least-privilege permission matrix (policy 461.2, 461.2.1(a)(e)).

Every action a user can take is listed in :class:`Action`; :data:`PERMISSIONS` maps each
role to the actions it may perform and nothing else.
"""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    ADMINISTRATOR = "administrator"  # the Deputy Chief (461.2)
    DESIGNEE = "designee"            # member assigned day-to-day administration (461.2.1(e))
    OPERATOR = "operator"            # sworn member / dispatcher using the system
    AUDITOR = "auditor"              # reviews searches (461.5(c))
    CUSTODIAN = "custodian"          # Custodian of Records: retention, evidence (461.2.1(f))
    PLATFORM = "platform"            # the platform operator: maintains the recipient-agency registry only


class Action(str, Enum):
    SEARCH_READS = "search_reads"
    VIEW_ALERTS = "view_alerts"
    WORK_ALERTS = "work_alerts"
    MANAGE_HOTLIST = "manage_hotlist"
    VIEW_HOTLIST = "view_hotlist"
    MANAGE_USERS = "manage_users"
    APPROVE_USERS = "approve_users"
    RECORD_TRAINING = "record_training"
    VIEW_ACCESS_LOG = "view_access_log"
    VERIFY_CHAIN = "verify_chain"
    RUN_AUDITS = "run_audits"
    SIGN_AUDITS = "sign_audits"
    REQUEST_SHARE = "request_share"
    APPROVE_SHARE = "approve_share"
    FULFIL_SHARE = "fulfil_share"
    SET_RETENTION = "set_retention"
    RUN_PURGE = "run_purge"
    EVIDENCE_HOLD = "evidence_hold"
    EVIDENCE_EXPORT = "evidence_export"
    PUBLISH_POLICY = "publish_policy"
    MANAGE_AGENCIES = "manage_agencies"      # platform registry of recipient agencies (platform role only)
    EDIT_AGENCY_PROFILE = "edit_agency_profile"  # an agency's own display name and contact
    MANAGE_AGREEMENTS = "manage_agreements"  # hotlist (live-matching) agreements with another agency


_A = Action
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMINISTRATOR: frozenset({
        _A.SEARCH_READS, _A.VIEW_ALERTS, _A.WORK_ALERTS, _A.MANAGE_HOTLIST, _A.VIEW_HOTLIST,
        _A.MANAGE_USERS, _A.APPROVE_USERS, _A.RECORD_TRAINING, _A.VIEW_ACCESS_LOG, _A.VERIFY_CHAIN,
        _A.REQUEST_SHARE, _A.APPROVE_SHARE, _A.FULFIL_SHARE, _A.SET_RETENTION, _A.RUN_PURGE,
        _A.EVIDENCE_HOLD, _A.EVIDENCE_EXPORT, _A.PUBLISH_POLICY, _A.EDIT_AGENCY_PROFILE, _A.MANAGE_AGREEMENTS}),
    Role.DESIGNEE: frozenset({
        _A.SEARCH_READS, _A.VIEW_ALERTS, _A.WORK_ALERTS, _A.MANAGE_HOTLIST, _A.VIEW_HOTLIST,
        _A.MANAGE_USERS, _A.APPROVE_USERS, _A.RECORD_TRAINING, _A.VIEW_ACCESS_LOG, _A.VERIFY_CHAIN,
        _A.REQUEST_SHARE, _A.APPROVE_SHARE, _A.FULFIL_SHARE, _A.EVIDENCE_HOLD, _A.MANAGE_AGREEMENTS}),
    Role.OPERATOR: frozenset({
        _A.SEARCH_READS, _A.VIEW_ALERTS, _A.WORK_ALERTS, _A.MANAGE_HOTLIST, _A.VIEW_HOTLIST,
        _A.EVIDENCE_HOLD}),
    Role.AUDITOR: frozenset({
        _A.VIEW_ACCESS_LOG, _A.VERIFY_CHAIN, _A.RUN_AUDITS, _A.SIGN_AUDITS}),
    Role.CUSTODIAN: frozenset({
        _A.SET_RETENTION, _A.RUN_PURGE, _A.EVIDENCE_HOLD, _A.EVIDENCE_EXPORT, _A.FULFIL_SHARE,
        _A.REQUEST_SHARE, _A.VIEW_ACCESS_LOG, _A.VERIFY_CHAIN}),
    Role.PLATFORM: frozenset({_A.MANAGE_AGENCIES}),
}
AGENCY_ROLES = tuple(r for r in Role if r is not Role.PLATFORM)
PLATFORM_AGENCY = "PLATFORM"  # the pseudo-agency of platform accounts: it owns no ALPR data


def allowed(role: Role | str, action: Action | str) -> bool:
    return Action(action) in PERMISSIONS[Role(role)]


def matrix_markdown() -> str:
    """The matrix as a markdown table (used by the public policy page and COMPLIANCE.md)."""
    roles = list(Role)
    head = "| action | " + " | ".join(r.value for r in roles) + " |"
    sep = "|---" * (len(roles) + 1) + "|"
    rows = [f"| {a.value} | " + " | ".join("x" if a in PERMISSIONS[r] else "" for r in roles) + " |"
            for a in Action]
    return "\n".join([head, sep, *rows])
