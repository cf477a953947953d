"""Policy layer of alpr-stream: Desert Hot Springs PD policy 461 and Civ. Code 1798.90.5x.

Entry points: :class:`alpr.governance.service.Governance` (all services wired together),
:func:`alpr.governance.api.create_app` (FastAPI + web console), and
:func:`alpr.governance.cli.register` (``alpr serve``, ``alpr audit verify`` ...).
See ``COMPLIANCE.md`` for clause -> feature -> test.
"""

from .access_log import AccessLog, ChainReport, verify_chain
from .errors import (AuthenticationError, Conflict, GovernanceError, NotFound, PermissionDenied, PolicyViolation,
                     ValidationError)
from .roles import Action, Role
from .settings import GovernanceSettings

__all__ = ["AccessLog", "ChainReport", "verify_chain", "GovernanceError", "AuthenticationError", "Conflict",
           "NotFound", "PermissionDenied", "PolicyViolation", "ValidationError", "Action", "Role",
           "GovernanceSettings"]
