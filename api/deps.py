"""Typed FastAPI dependencies: the engine objects and the caller's principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.catalog import DiagramCatalog
from engine.queries import RunQueries
from engine.runs import RunService
from engine.tokens import Principal, TokenService

_bearer = HTTPBearer(auto_error=False, description="API token from `weavergen token create`")


def _runs(request: Request) -> RunService:
    return request.app.state.engine.runs  # type: ignore[no-any-return]


def _catalog(request: Request) -> DiagramCatalog:
    return request.app.state.engine.catalog  # type: ignore[no-any-return]


def _queries(request: Request) -> RunQueries:
    return request.app.state.queries  # type: ignore[no-any-return]


def _tokens(request: Request) -> TokenService:
    return request.app.state.tokens  # type: ignore[no-any-return]


Runs = Annotated[RunService, Depends(_runs)]
Catalog = Annotated[DiagramCatalog, Depends(_catalog)]
Queries = Annotated[RunQueries, Depends(_queries)]


def require(role: str):  # type: ignore[no-untyped-def]
    """A dependency that admits callers whose token has at least `role`."""

    async def check(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if creds is None or not creds.credentials:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token; create one with `weavergen token create --role "
                f"{role}` and send it as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = await _tokens(request).verify(creds.credentials)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid or revoked token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.allows(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"token {principal.name!r} has role {principal.role}; this needs {role} or higher",
            )
        return principal

    return check


Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
