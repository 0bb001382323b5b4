"""Typed FastAPI dependencies: the engine objects and the caller's principal.

A caller is either a program with `Authorization: Bearer <token>` or a browser with the
session cookie from /signin. A browser's state-changing requests must also carry the
session's CSRF token (header `X-CSRF-Token` or form field `csrf`).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.sessions import SessionService, WebSession
from api.throttle import AuthThrottle
from api.tokens import Principal, TokenService
from engine.diagrams.catalog import DiagramCatalog
from engine.runs import RunService
from engine.runs.queries import RunQueries

SESSION_COOKIE = "wg_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

_bearer = HTTPBearer(auto_error=False, description="API token from `weavergen token create`")


def _runs(request: Request) -> RunService:
    return request.app.state.engine.runs  # type: ignore[no-any-return]


def _catalog(request: Request) -> DiagramCatalog:
    return request.app.state.engine.catalog  # type: ignore[no-any-return]


def _queries(request: Request) -> RunQueries:
    return request.app.state.queries  # type: ignore[no-any-return]


def _tokens(request: Request) -> TokenService:
    return request.app.state.tokens  # type: ignore[no-any-return]


def sessions(request: Request) -> SessionService:
    """The browser session service."""
    return request.app.state.sessions  # type: ignore[no-any-return]


Runs = Annotated[RunService, Depends(_runs)]
Catalog = Annotated[DiagramCatalog, Depends(_catalog)]
Queries = Annotated[RunQueries, Depends(_queries)]


async def web_session(request: Request) -> WebSession | None:
    """The browser session of this request, if its cookie names a live one (cached)."""
    if hasattr(request.state, "web_session"):
        return request.state.web_session  # type: ignore[no-any-return]
    cookie = request.cookies.get(SESSION_COOKIE)
    found = await sessions(request).find(cookie) if cookie else None
    request.state.web_session = found
    return found


async def check_csrf(request: Request, session: WebSession) -> None:
    """Refuse a browser's state-changing request without its session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent.encode(), session.csrf.encode()):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "missing or stale CSRF token: reload the page and try again",
        )


async def authenticate(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal:
    """The caller's principal from a bearer token or a session cookie; 401 otherwise."""
    if hasattr(request.state, "principal"):
        return request.state.principal  # type: ignore[no-any-return]
    if creds is not None and creds.credentials:
        throttle: AuthThrottle = request.app.state.auth_throttle
        throttle.check(request)
        principal = await _tokens(request).verify(creds.credentials)
        if principal is None:
            throttle.failed(request)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid or revoked token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    else:
        session = await web_session(request)
        if session is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "sign in at /signin, or send 'Authorization: Bearer <token>' "
                "(create one with `weavergen token create --role viewer`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        await check_csrf(request, session)
        principal = session.principal
    request.state.principal = principal
    return principal


async def still_allowed(request: Request) -> bool:
    """Whether the caller's token or session is still valid (for long-lived streams)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return await _tokens(request).verify(header[7:].strip()) is not None
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie is not None and await sessions(request).find(cookie) is not None


def require(role: str):  # type: ignore[no-untyped-def]
    """A dependency that admits callers whose token has at least `role`."""

    async def check(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await authenticate(request, creds)
        if not principal.allows(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{principal.name!r} has role {principal.role}; this needs {role} or higher",
            )
        return principal

    return check


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
