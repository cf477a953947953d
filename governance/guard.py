"""One choke point for authorisation + purpose checks that logs every refusal too."""

from __future__ import annotations

from typing import Optional

from .access_log import AccessLog
from .auth import AuthService
from .errors import GovernanceError, PermissionDenied, ValidationError
from .models import User
from .purposes import Purpose, PurposeCatalog
from .roles import Action


class Guard:
    def __init__(self, auth: AuthService, log: AccessLog, purposes: PurposeCatalog):
        self.auth, self.log, self.purposes = auth, log, purposes

    def deny(self, user: User, action: str, exc: GovernanceError, channel: str,
             data_elements: Optional[dict] = None, purpose_code: str = "", case_number: str = "") -> None:
        self.log.record(username=user.username, agency=user.agency, action=action,
                        data_elements=data_elements, channel=channel, outcome="denied", detail=str(exc),
                        purpose_code=purpose_code, case_number=case_number)

    def check(self, user: User, action: Action, *, channel: str, data_elements: Optional[dict] = None,
              agency: Optional[str] = None) -> None:
        try:
            self.auth.authorize(user, action, agency)
        except PermissionDenied as exc:
            self.deny(user, action.value, exc, channel, data_elements)
            raise

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
