"""One choke point for authorisation, tenancy and purpose checks that logs every refusal too.

Tenancy rule (see ``TENANCY.md``): every object carries its owning agency; a user acts only on
objects of their own agency. :meth:`Guard.check` checks role, training and (``agency=``) the
target agency; :meth:`Guard.owned` is the one place where a loaded object's owner is compared
with the caller's agency - another agency's object answers exactly like a missing one (no
IDOR oracle), and the attempt is logged. Cross-agency reads exist only through an approved
sharing request (see :mod:`.sharing`), logged on both sides."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional, TypeVar

from .access_log import AccessLog
from .auth import AuthService

from .errors import GovernanceError, NotFound, PermissionDenied, ValidationError
from .models import User
from .purposes import Purpose, PurposeCatalog
from .roles import Action


T = TypeVar("T")
# actions on ALPR data: refused for an agency that has not gone live (1798.90.55(a))
DATA_ACTIONS = frozenset({Action.SEARCH_READS, Action.VIEW_ALERTS, Action.WORK_ALERTS, Action.MANAGE_HOTLIST,
                          Action.VIEW_HOTLIST, Action.REQUEST_SHARE, Action.APPROVE_SHARE, Action.FULFIL_SHARE,
                          Action.EVIDENCE_HOLD, Action.EVIDENCE_EXPORT})


class Guard:
    def __init__(self, auth: AuthService, log: AccessLog, purposes: PurposeCatalog):
        self.auth, self.log, self.purposes = auth, log, purposes

    def deny(self, user: User, action: str, exc: GovernanceError, channel: str,
             data_elements: Optional[dict] = None, purpose_code: str = "", case_number: str = "") -> None:
        self.log.record(username=user.username, agency=user.agency, action=action,
                        data_elements=data_elements, channel=channel, outcome="denied", detail=str(exc),
                        purpose_code=purpose_code, case_number=case_number)

    @contextmanager
    def refusing(self, user: User, action: Action | str, channel: str, data_elements: Optional[dict] = None,
                 purpose_code: str = "", case_number: str = "") -> Iterator[None]:
        """Log every policy refusal (:class:`GovernanceError`) raised inside the block, then re-raise it:
        ``with guard.refusing(user, "share_review", channel, {...}): <checks that raise>``."""
        try:
            yield
        except GovernanceError as exc:
            self.deny(user, getattr(action, "value", action), exc, channel, data_elements, purpose_code,
                      case_number)
            raise

    def check(self, user: User, action: Action, *, channel: str, data_elements: Optional[dict] = None,
              agency: Optional[str] = None) -> None:
        try:
            self.auth.authorize(user, action, agency)
            if action in DATA_ACTIONS and self.auth.settings.require_go_live and not self.is_live(user.agency):
                raise PermissionDenied(f"agency {user.agency} has not gone live: record the public-comment meeting "
                                       "(Civ. Code 1798.90.55(a)) and run go-live first")
        except PermissionDenied as exc:
            self.deny(user, action.value, exc, channel, data_elements)
            raise

    def is_live(self, agency: str) -> bool:
        meeting = self.auth.store.get_public_meeting(agency)
        return bool(meeting and meeting.live_ts)

    def owned(self, user: User, action: Action | str, obj: Optional[T], owner_agency: Optional[str], what: str,
              *, channel: str, data_elements: Optional[dict] = None) -> T:
        """``obj`` if it exists and belongs to the caller's agency; otherwise NotFound (logged)."""
        if obj is None or owner_agency != user.agency:
            exc = NotFound(f"no {what} for agency {user.agency}")
            self.deny(user, getattr(action, "value", action), exc, channel, data_elements)
            raise exc
        return obj

    def party(self, user: User, action: Action | str, obj: Optional[T], parties: tuple[str, ...], what: str,
              *, channel: str, data_elements: Optional[dict] = None) -> T:
        """``obj`` if it exists and the caller's agency is one of its ``parties`` (a two-agency
        record: a hotlist agreement); a third agency's answers like a missing one (logged)."""
        return self.owned(user, action, obj, user.agency if user.agency in parties else None, what,
                          channel=channel, data_elements=data_elements)

    def purpose(self, user: User, action: Action, code: Optional[str], case_number: Optional[str],
                note: Optional[str], *, channel: str, data_elements: Optional[dict] = None) -> Purpose:
        try:
            return self.purposes.validate(code, case_number, note)
        except ValidationError as exc:
            self.deny(user, action.value, exc, channel, data_elements, (code or "").upper(), case_number or "")
            raise

    def check_with_purpose(self, user: User, action: Action, code: Optional[str], case_number: Optional[str],
                           note: Optional[str] = None, *, channel: str, data_elements: Optional[dict] = None,
                           agency: Optional[str] = None) -> Purpose:
        self.check(user, action, channel=channel, data_elements=data_elements, agency=agency)
        return self.purpose(user, action, code, case_number, note, channel=channel, data_elements=data_elements)
