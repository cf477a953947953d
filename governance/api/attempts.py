"""Failed attempts the services never saw, in the access log (Civ. Code 1798.90.52: every access
attempt, allowed or not).

Some requests are refused before a service runs, or by a rule that raises without a record: a
body FastAPI cannot validate (422), a body over the size limit (413, :class:`BodyLimit`), an
action in the wrong state (409), an unknown route. :class:`AccessAttempts`, the outermost
middleware, is the one place that logs them: a request that ends in 4xx or 5xx, whose caller
holds a live session, and for which nothing was written to the access log while it ran, is
recorded with the 1798.90.52 fields - when (the record's time), who (user and agency), what was
queried (route, ids, query and body field names; never body values), the purpose and case number
if given, and the outcome (``denied``, as every refusal in the log; ``error`` for a 5xx). An
anonymous caller's attempt is the login's or the session check's to log. Nothing is written to
the application log but the failure to record one (no plate, no body).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qs

import anyio
from starlette.requests import cookie_parser

from ..access_log import tally_records
from ..console.routes import COOKIE

log = logging.getLogger(__name__)

BODY_CAP = 64 * 1024      # what is kept of a request body to name its fields
REPLY_CAP = 8 * 1024      # what is kept of an error answer to name the refusal
MAX_NAMES, MAX_VALUE = 50, 64
PURPOSE_FIELDS = ("purpose_code", "case_number")


@dataclass
class _Exchange:
    """What one request carried and how it ended."""

    body: bytearray = field(default_factory=bytearray)
    reply: bytearray = field(default_factory=bytearray)
    status: Optional[int] = None


class AccessAttempts:
    """ASGI middleware: log a failed request of a logged-in caller that no service logged."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        ex = _Exchange()

        async def recv():
            message = await receive()
            if message["type"] == "http.request" and len(ex.body) < BODY_CAP:
                ex.body.extend(message.get("body", b"")[:BODY_CAP - len(ex.body)])
            return message

        async def snd(message):
            if message["type"] == "http.response.start":
                ex.status = message["status"]
            elif message["type"] == "http.response.body" and (ex.status or 0) >= 400 and len(ex.reply) < REPLY_CAP:
                ex.reply.extend(message.get("body", b"")[:REPLY_CAP - len(ex.reply)])
            await send(message)

        with tally_records() as written:
            try:
                await self.app(scope, recv, snd)
            except Exception:
                ex.status = 500
                raise
            finally:
                if (ex.status or 0) >= 400 and not written:
                    await anyio.to_thread.run_sync(_record, scope, ex)


def _record(scope, ex: _Exchange) -> None:
    try:
        gov = scope["app"].state.gov
        user = gov.auth.session_user(_token(scope))
        if user is None:
            return
        elements, purpose = _queried(scope, ex)
        gov.log.record(username=user.username, agency=user.agency, action="request_refused"
                       if ex.status < 500 else "request_error", data_elements=elements,
                       channel="ui" if scope.get("path", "").startswith("/console") else "api",
                       outcome="denied" if ex.status < 500 else "error", detail=_detail(ex),
                       purpose_code=purpose.get("purpose_code", ""), case_number=purpose.get("case_number", ""))
    except Exception as exc:  # noqa: BLE001 - the answer has gone; never turn it into a 500
        log.error("failed attempt (HTTP %s) not recorded in the access log: %s", ex.status, type(exc).__name__)


def _token(scope) -> Optional[str]:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return cookie_parser(headers.get("cookie", "")).get(COOKIE) or None


def _short(value) -> str:
    return str(value)[:MAX_VALUE]


def _queried(scope, ex: _Exchange) -> tuple[dict, dict]:
    """(what was asked for, the purpose fields given). Field names only: a body's values (a
    plate, a password) stay out of the record, except the purpose code and the case number."""
    route = scope.get("route")
    elements: dict = {"route": f"{scope.get('method', '')} {getattr(route, 'path', None) or scope.get('path', '')}",
                      "status": ex.status}
    if scope.get("path_params"):
        elements["path_params"] = {k: _short(v) for k, v in list(scope["path_params"].items())[:MAX_NAMES]}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    body = _fields(bytes(ex.body), ex.status)
    if query:
        elements["query_fields"] = sorted(query)[:MAX_NAMES]
    if body:
        elements["body_fields"] = sorted(_short(k) for k in body)[:MAX_NAMES]
    if ex.status == 413:
        elements["content_length"] = _short(dict(scope.get("headers") or ()).get(b"content-length", b"").decode())
    given = {**{k: v[0] for k, v in query.items()}, **body}
    purpose = {k: _short(given[k]) for k in PURPOSE_FIELDS if isinstance(given.get(k), str) and given[k]}
    return elements, purpose


def _fields(body: bytes, status: Optional[int]) -> dict:
    """The top-level fields of a JSON object or form body (none of a body cut at the size limit)."""
    if not body or status == 413:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        data = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    return data if isinstance(data, dict) else {}


def _detail(ex: _Exchange) -> str:
    """The refusal's reason from the answer: the policy layer's sentence, or the locations and kinds
    of FastAPI's validation errors (never the offending input)."""
    try:
        detail = json.loads(bytes(ex.reply)).get("detail")
    except (ValueError, AttributeError):
        return f"HTTP {ex.status}"
    if isinstance(detail, list):
        kinds = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('type', '')}" for e in detail[:10]
                 if isinstance(e, dict)]
        return f"HTTP {ex.status}: invalid request ({'; '.join(kinds)})"
    return f"HTTP {ex.status}: {str(detail)[:300]}"
