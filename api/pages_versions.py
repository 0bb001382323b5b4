"""The versions page of a diagram: every version (retired ones marked), a comparison of two,
and, for admins, retiring one; and the page of a decision table (dmn-js, web/src/decision.js)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import check_csrf
from api.pages import render, signed_in
from engine.diagrams import versions

router = APIRouter(include_in_schema=False)
VersionQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@router.get("/diagrams/{diagram_id}/versions", response_class=HTMLResponse)
async def versions_page(
    request: Request, diagram_id: str, base: VersionQuery = None, head: VersionQuery = None
) -> Response:
    session = await signed_in(request)
    catalog = request.app.state.engine.catalog
    diagram = await catalog.get(diagram_id)
    numbers = [v["version"] for v in diagram["versions"]]
    head = head or numbers[-1]
    base = base or (numbers[-2] if len(numbers) > 1 else head)
    diff = await versions.comparison(catalog, diagram_id, base, head)
    return render(
        request,
        "versions.html",
        session,
        diagram=diagram,
        base=base,
        head=head,
        diff=diff,
    )


@router.post("/diagrams/{diagram_id}/versions/{version}/retire")
async def retire_version(request: Request, diagram_id: str, version: int) -> Response:
    session = await signed_in(request, "admin")
    await check_csrf(request, session)
    catalog = request.app.state.engine.catalog
    await versions.retire(catalog, diagram_id, version, session.principal.name)
    return RedirectResponse(f"/diagrams/{diagram_id}/versions", status_code=303)


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
async def decision_page(request: Request, decision_id: str) -> Response:
    session = await signed_in(request)
    await request.app.state.engine.catalog.decisions.get(decision_id)  # 404 page if unknown
    return render(request, "decision.html", session, decision_id=decision_id)
