"""The FastAPI application: routes, pages, error mapping, OpenAPI docs."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import (
    health,
    metrics,
    openapi,
    pages,
    pages_policies,
    pages_tasks,
    pages_versions,
    routes_diagrams,
    routes_learning,
    routes_policies,
    routes_run_control,
    routes_runs,
    routes_statistics,
    routes_tasks,
)
from api.admission import Busy, Intake
from api.changes import RunChanges
from api.deps import Viewer, web_session
from api.limits import BodyLimit
from api.run_details import RunDetails
from api.security_headers import SecurityHeaders
from api.sessions import SessionService
from api.throttle import AuthThrottle
from api.tokens import TokenService
from engine.container import Engine
from engine.errors import DiagramInvalid, EngineError, FormInvalid
from engine.json_limits import MAX_DEPTH
from engine.runs.queries import RunQueries

log = logging.getLogger(__name__)


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/static/", "/docs", "/openapi"))


async def _error_page(request: Request, status_code: int, message: str) -> Response:
    session = await web_session(request)
    return pages.render(request, "error.html", session, status_code, message=message)


async def _busy(request: Request, exc: Busy) -> Response:
    """503 with Retry-After, as JSON for the API and as a page for a browser."""
    response: Response
    if _wants_page(request):
        response = pages.render(request, "error.html", None, exc.status_code, message=exc.detail)
    else:
        response = JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})
    response.headers.update(exc.headers or {})
    return response


def create_app(engine: Engine) -> FastAPI:
    """The HTTP API and browser pages over an already built engine."""
    app = FastAPI(
        title="WeaverGen",
        description="BPMN orchestration of AI code generation. Models in tests are a stand-in.",
        version="0.1.0",
    )
    app.state.engine = engine
    app.state.queries = RunQueries(engine.db)
    app.state.tokens = TokenService(engine.db)
    app.state.changes = RunChanges(engine.database.url)
    policies = engine.services.policies
    app.state.run_details = RunDetails(
        app.state.queries, app.state.changes, journal=policies.journal if policies else None
    )
    app.state.intake = Intake(
        concurrency=engine.settings.intake_concurrency, queue=engine.settings.intake_queue
    )
    app.state.sessions = SessionService(engine.db)
    app.state.auth_throttle = AuthThrottle(engine.settings.auth_failures_per_minute)
    app.state.pages = Jinja2Templates(directory=engine.settings.templates_dir / "pages")
    app.state.model_servers = health.ModelServers()
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(routes_runs.router)
    app.include_router(routes_diagrams.router)
    app.include_router(routes_learning.router)
    app.include_router(routes_policies.router)
    app.include_router(routes_tasks.router)
    app.include_router(routes_run_control.router)
    app.include_router(routes_statistics.router)
    app.include_router(pages.router)
    app.include_router(pages_versions.router)
    app.include_router(pages_tasks.router)
    app.include_router(pages_policies.router)
    dist = engine.settings.web_dist
    if not (dist / "run.js").exists():
        log.warning("browser assets missing in %s: run `make install` to build them", dist)
    app.mount("/static", StaticFiles(directory=dist, check_dir=False), name="static")
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    openapi.install(app)

    @app.exception_handler(DiagramInvalid)
    async def diagram_invalid(request: Request, exc: DiagramInvalid) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": "the diagram was rejected; fix the problems listed in errors",
                "errors": [
                    {
                        "file": p.file,
                        "element_id": p.element_id,
                        "line": p.line,
                        "message": p.message,
                    }
                    for p in exc.problems
                ],
            },
        )

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> Response:
        if _wants_page(request):
            return await _error_page(request, exc.status_code, exc.message)
        content: dict[str, Any] = {"detail": exc.message}
        if isinstance(exc, FormInvalid):
            content["errors"] = exc.errors
        return JSONResponse(status_code=exc.status_code, content=content)

    @app.exception_handler(pages.SignInNeeded)
    async def sign_in_needed(request: Request, exc: pages.SignInNeeded) -> Response:
        return RedirectResponse(f"/signin?next={quote(exc.path)}", status_code=303)

    @app.exception_handler(pages.PageDenied)
    async def page_denied(request: Request, exc: pages.PageDenied) -> Response:
        return await _error_page(request, exc.status_code, exc.message)

    # Starlette's class: routing's own 404/405 and FastAPI's body-parsing 400 are this one
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, RecursionError):  # JSON too deep for the parser itself
            exc = HTTPException(
                422,
                f"the request body nests deeper than {MAX_DEPTH} levels of objects and "
                "arrays; send flatter data",
            )
        if _wants_page(request):
            return await _error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse(
            status_code=exc.status_code, content={"detail": exc.detail}, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        if _wants_page(request):
            if any(p["loc"][:1] == ["path"] for p in problems):
                return await _error_page(request, 404, f"There is no page at {request.url.path}.")
            text = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)
            return await _error_page(request, 400, f"The form was not accepted: {text}")
        return JSONResponse(status_code=422, content={"detail": problems})

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(request: Request, exc: PoolTimeout) -> Response:
        return await _busy(request, Busy("the server is busy: all database connections in use", 2))

    @app.exception_handler(DBAPIError)
    async def database_refused(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated or isinstance(exc, OperationalError):
            log.warning("database unavailable: %s", exc.orig)
            return await _busy(request, Busy("the database is not reachable right now", 5))
        # only data PostgreSQL cannot store (e.g. NUL characters) is the caller's fault
        if type(exc.orig).__name__ != "DataError" and "NUL" not in str(exc.orig):
            raise exc
        message = "the request holds characters or numbers the database cannot store"
        if _wants_page(request):
            return await _error_page(request, 400, message.capitalize() + ".")
        return JSONResponse(status_code=400, content={"detail": message})

    @app.get("/api/session", tags=["meta"])
    async def session_info(request: Request, who: Viewer) -> dict[str, str | None]:
        """Who is calling, and (for a browser session) the CSRF token its forms must send."""
        session = await web_session(request)
        return {
            "name": who.name,
            "role": who.role,
            "csrf": session.csrf if session else None,
        }

    return app
