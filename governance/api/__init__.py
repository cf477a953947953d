"""FastAPI application: JSON API (OpenAPI at /docs), web console (/console) and public page (/public).

``create_app(settings)`` builds everything; ``serve(host, port, ...)`` runs it under uvicorn
(the lead wires it to ``alpr serve``).
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from ..errors import AuthenticationError, GovernanceError
from .attempts import AccessAttempts
from ..service import Governance
from ..settings import GovernanceSettings


def _templates(timezone: str = "UTC") -> Jinja2Templates:
    path = resources.files("alpr.governance").joinpath("templates")
    templates = Jinja2Templates(directory=str(path))
    templates.env.filters["ts"] = lambda value: _fmt_ts(value, timezone)
    templates.env.globals["tz_name"] = timezone
    return templates


def _fmt_ts(value: Any, timezone: str = "UTC") -> str:
    """Epoch seconds in the agency's time zone, with its abbreviation (e.g. PST/PDT)."""
    import datetime
    from zoneinfo import ZoneInfo
    if value in (None, ""):
        return ""
    return datetime.datetime.fromtimestamp(float(value), ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413 before reading them
    (by Content-Length), or as soon as a chunked body passes the limit."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(send)
        seen, refused = 0, False

        async def limited():
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # answer now; the app sees the client gone
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:
                await send(message)

        await self.app(scope, limited, guarded_send)

    async def _refuse(self, send) -> None:
        body = b'{"detail":"request body too large","error":"PayloadTooLarge"}'
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Optional[GovernanceSettings] = None, *, governance: Optional[Governance] = None) -> FastAPI:
    """Build the app. Pass ``governance`` to inject pre-built services (tests, custom stores)."""
    settings = settings or (governance.settings if governance else GovernanceSettings.from_env())
    gov = governance or Governance.build(settings)
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        interval = gov.settings.maintenance_interval_s
        thread = None
        if interval > 0:
            def loop() -> None:
                while not stop.wait(interval):
                    try:
                        gov.run_maintenance()
                    except Exception as exc:  # noqa: BLE001 - keep serving; the failure is logged
                        import logging
                        logging.getLogger(__name__).exception("maintenance failed: %s", exc)
            thread = threading.Thread(target=loop, name="alpr-governance-maintenance", daemon=True)
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(timeout=5)

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, title="alpr-stream governance API",
                  description="Policy 461 / Civ. Code 1798.90.5x controls: MFA login, purpose-bound search, "
                              "hash-chained access log, alert verification, sharing, retention, audits.",
                  version="1.0")
    app.state.gov = gov
    app.state.templates = _templates(gov.settings.timezone)
    app.add_middleware(BodyLimit, max_bytes=gov.settings.max_request_bytes)
    # outermost: sees the 413s of BodyLimit, FastAPI's 422s and every other unlogged failed attempt
    app.add_middleware(AccessAttempts)

    @app.exception_handler(ValueError)
    @app.exception_handler(OverflowError)
    async def _bad_value(request: Request, exc: Exception):
        """A value the services cannot use (bad pattern, out-of-range number) is the caller's error."""
        return JSONResponse({"detail": f"invalid value: {exc}", "error": "ValidationError"}, status_code=422)

    @app.exception_handler(GovernanceError)
    async def _gov_error(request: Request, exc: GovernanceError):
        if request.url.path.startswith("/console"):
            if isinstance(exc, AuthenticationError):
                return RedirectResponse("/console/login", status_code=303)
            return app.state.templates.TemplateResponse(
                request, "error.html", {"error": str(exc), "user": getattr(request.state, "user", None)},
                status_code=exc.status)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=exc.status,
                            headers=headers)

    from .routers import agreements, alerts, audit, auth, golive, hotlists, public, retention, search, sharing
    for mod in (auth, search, alerts, hotlists, audit, sharing, agreements, retention, golive, public):
        app.include_router(mod.router)
    from ..console.admin import router as console_admin_router
    from ..console.routes import router as console_router
    app.include_router(console_router)
    app.include_router(console_admin_router)

    def openapi() -> dict:
        """The document tells the truth about 422s: FastAPI's own (``detail`` a list of field errors)
        and the policy layer's (``detail`` a sentence, ``error`` the rule's class)."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            err = doc.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if err is not None:
                detail = err["properties"]["detail"]
                err["properties"]["detail"] = {"anyOf": [{"type": "string"}, {k: v for k, v in detail.items()
                                                                               if k != "title"}], "title": "Detail"}
                err["properties"]["error"] = {"type": "string", "title": "Error"}
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi

    _local_docs(app)

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/public", status_code=307)

    return app


def _local_docs(app: FastAPI) -> None:
    """Swagger UI 5 at /docs from the assets packaged in fastapi-offline (no CDN; Swagger UI 5 reads
    OpenAPI 3.1); Authorize takes the bearer token from POST /api/auth/login."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.staticfiles import StaticFiles
    import fastapi_offline
    assets = Path(fastapi_offline.__file__).parent / "static"

    app.mount("/static/swagger", StaticFiles(directory=str(assets)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - docs",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/favicon.ico",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_ui_parameters={"persistAuthorization": False, "validatorUrl": None})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        from fastapi.responses import Response
        return Response(status_code=204)

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect():
        return get_swagger_ui_oauth2_redirect_html()


def serve(host: str = "127.0.0.1", port: int = 8080, settings: Optional[GovernanceSettings] = None,
          *, governance: Optional[Governance] = None, log_level: str = "info") -> None:
    """Run the API + console under uvicorn (blocking)."""
    import uvicorn
    uvicorn.run(create_app(settings, governance=governance), host=host, port=port, log_level=log_level)
