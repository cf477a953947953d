"""FastAPI dependencies: the shared :class:`Governance`, the current user (bearer token)."""

from __future__ import annotations

from typing import Optional

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import AuthenticationError
from ..models import User
from ..service import Governance


def get_gov(request: Request) -> Governance:
    return request.app.state.gov


_BEARER = HTTPBearer(auto_error=False, description="the token from POST /api/auth/login")


def bearer_token(credentials: Optional[HTTPAuthorizationCredentials] = Depends(_BEARER)) -> Optional[str]:
    """The bearer token (declared as an OpenAPI security scheme, so /docs' Authorize button works)."""
    if credentials and credentials.scheme.lower() == "bearer" and credentials.credentials:
        return credentials.credentials.strip()
    return None


def current_user(token: Optional[str] = Depends(bearer_token), gov: Governance = Depends(get_gov)) -> User:
    if not token:
        gov.auth.authenticate(None)  # logs the refused attempt, raises
        raise AuthenticationError("missing bearer token; POST /api/auth/login first")
    return gov.auth.authenticate(token)
