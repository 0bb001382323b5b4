"""The task inbox page (/tasks: person tasks waiting in any run, live, with their forms) and
the start page of a diagram (/diagrams/{id}/start: its start form, if it has one, and the
request text). Both are filled in by their scripts (web/src/tasks.js, web/src/start.js)
through the JSON API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.pages import render, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(request: Request) -> Response:
    session = await signed_in(request)
    return render(request, "tasks.html", session)


@router.get("/diagrams/{diagram_id}/start", response_class=HTMLResponse)
async def start_page(request: Request, diagram_id: str) -> Response:
    session = await signed_in(request, "operator")
    await request.app.state.engine.catalog.get(diagram_id)  # 404 page for an unknown id
    return render(request, "start.html", session, diagram_id=diagram_id)
