"""Request-scoped dependencies shared by the JSON API (:mod:`.api`) and the web console
(:mod:`.console`). Both packages import this module and neither imports the other's
dependencies, so they depend one way: the app assembly in ``api`` mounts the console."""

from __future__ import annotations

from fastapi import Request

from .service import Governance


def get_gov(request: Request) -> Governance:
    """The :class:`Governance` the app was built with."""
    return request.app.state.gov
