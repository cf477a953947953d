"""FastAPI dependencies of the JSON API: the current user (bearer token); the shared
:class:`Governance` comes from :mod:`alpr.governance.deps` (shared with the console)."""

from __future__ import annotations

from typing import Optional

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..deps import get_gov
from ..errors import AuthenticationError
from ..models import User
from ..service import Governance

__all__ = ["bearer_token", "current_user", "get_gov"]

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
