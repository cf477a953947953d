"""Errors raised by the policy layer; the API maps each to an HTTP status."""

from __future__ import annotations


class GovernanceError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status = 400


class ValidationError(GovernanceError):
    """Bad or missing input (e.g. a search without a purpose code or case number)."""

    status = 422


class AuthenticationError(GovernanceError):
    """Login failed, the session is unknown or expired, or the account is locked."""

    status = 401


class PermissionDenied(GovernanceError):
    """The user's role, agency, training or account state does not allow the action."""

    status = 403


class NotFound(GovernanceError):
    status = 404


class Conflict(GovernanceError):
    """The action is not allowed in the object's current state (e.g. an alert not yet verified)."""

    status = 409


class PolicyViolation(GovernanceError):
    """The request breaks a rule of policy 461 / Civ. Code 1798.90.5x (e.g. retention < 365 days)."""

    status = 422


class StoreFailure(Conflict):
    """A store the action needed failed after the request was validated. The attempt is logged with
    ``outcome=error``; the message says what was and was not done. A 409 (try again), never a 5xx."""
