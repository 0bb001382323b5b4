"""The learned policies page (/policies): each policy's state, and for admins forms to export
it as a DMN table (then on to the DMN editor, /decisions/learned_<policy>), pin the newest
version of that table and unpin; with the drift of live evidence from each pinned table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import policy_actions as actions
from api.deps import check_csrf
from api.pages import render, signed_in
from engine.policies.dmn import POLICIES

router = APIRouter(include_in_schema=False)


@router.get("/policies", response_class=HTMLResponse)
async def policies_page(request: Request) -> Response:
    session = await signed_in(request)
    engine = request.app.state.engine
    shown: list[dict[str, Any]] = []
    for policy in POLICIES:
        view = await actions.overview(engine, policy)
        try:
            view["drift"] = await actions.drift(engine, policy)
        except actions.PolicyStoreUnavailable as exc:
            view["drift"] = {"disagreements": [], "note": exc.message, "unavailable": True}
        shown.append(view)
    return render(request, "policies.html", session, policies=shown)


async def _admin_form(request: Request, policy: str) -> str:
    session = await signed_in(request, "admin")
    await check_csrf(request, session)
    actions.known(policy)
    return session.principal.name


@router.post("/policies/{policy}/export")
async def export_policy(request: Request, policy: str) -> Response:
    who = await _admin_form(request, policy)
    done = await actions.export(request.app.state.engine, policy, who)
    return RedirectResponse(done["editor"], status_code=303)


@router.post("/policies/{policy}/pin")
async def pin_policy(request: Request, policy: str) -> Response:
    who = await _admin_form(request, policy)
    shown = str((await request.form()).get("version") or "")  # the version the page showed
    version = int(shown) if shown.isdigit() else None
    await actions.pin(request.app.state.engine, policy, who, version=version)
    return RedirectResponse(f"/policies#policy-{policy}", status_code=303)


@router.post("/policies/{policy}/unpin")
async def unpin_policy(request: Request, policy: str) -> Response:
    await _admin_form(request, policy)
    await actions.unpin(request.app.state.engine, policy)
    return RedirectResponse(f"/policies#policy-{policy}", status_code=303)
