"""FastAPI dependencies: the shared :class:`Governance`, the current user (bearer token)."""

from __future__ import annotations

from typing import Optional

from fastapi import Depends, Header, Request

from ..errors import AuthenticationError
from ..models import User
from ..service import Governance


def get_gov(request: Request) -> Governance:
    return request.app.state.gov


def bearer_token(authorization: Optional[str] = Header(default=None)) -> Optional[str]:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def current_user(token: Optional[str] = Depends(bearer_token), gov: Governance = Depends(get_gov)) -> User:
    if not token:
        gov.auth.authenticate(None)  # logs the refused attempt, raises
        raise AuthenticationError("missing bearer token; POST /api/auth/login first")
    return gov.auth.authenticate(token)
