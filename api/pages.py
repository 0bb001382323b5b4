"""The browser pages: sign-in, runs dashboard, run page, new run form, diagram editor.

Pages are Jinja2 templates (templates/pages) whose scripts come from web/dist. Forms post
with the session's CSRF token; reads of live data go through the JSON API with the same
session cookie.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.deps import SESSION_COOKIE, check_csrf, sessions, web_session
from api.sessions import SESSION_HOURS, WebSession
from engine.errors import BadRequest, EngineError, NotFound
from engine.runs import RunRequest
from validation.languages import names as language_names

router = APIRouter(include_in_schema=False)

SIGNIN_COOKIE = "wg_signin"
PATTERNS = ("quick", "standard", "bug_fix", "migration")
LANGUAGES = language_names()
MAX_FILE_BYTES = 200_000


class PageDenied(Exception):
    """A page the signed-in person may not use; shown as a 403 page naming the role needed."""

    def __init__(self, message: str, status_code: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class SignInNeeded(Exception):
    """No live session: send the browser to /signin and back afterwards."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def render(
    request: Request, name: str, session: WebSession | None, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    """A page with the person, role and CSRF token every layout needs."""
    ctx |= {
        "user": session.principal if session else None,
        "csrf": session.csrf if session else "",
        "can": (lambda role: session is not None and session.principal.allows(role)),
    }
    return request.app.state.pages.TemplateResponse(request, name, ctx, status_code=status_code)


async def signed_in(request: Request, role: str = "viewer") -> WebSession:
    """The live session with at least `role`, else a redirect to sign in or a 403 page."""
    session = await web_session(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":  # a form posted after the session ended: back to its page
            referer = urlsplit(request.headers.get("referer", ""))
            same_site = referer.netloc in ("", request.url.netloc)
            target = (referer.path or "/") if same_site else "/"
        raise SignInNeeded(target)
    if not session.principal.allows(role):
        raise PageDenied(
            f"You are signed in as {session.principal.name} with role "
            f"{session.principal.role}; this page needs {role} or higher. "
            "Ask an admin for a token with that role."
        )
    return session


def _safe_next(target: str | None) -> str:
    # only paths on this site: no scheme, no host, no protocol-relative //host
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ---- sign-in ------------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request, next: str = "/") -> Response:
    pre = secrets.token_urlsafe(24)
    page = render(request, "signin.html", None, next=_safe_next(next), signin_csrf=pre, error=None)
    page.set_cookie(SIGNIN_COOKIE, pre, httponly=True, samesite="strict", max_age=900)
    return page


@router.post("/signin", response_class=HTMLResponse)
async def signin(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    pre = request.cookies.get(SIGNIN_COOKIE, "")
    target = _safe_next(next)

    def again(message: str, code: int) -> Response:
        fresh = secrets.token_urlsafe(24)
        page = render(
            request, "signin.html", None, code, next=target, signin_csrf=fresh, error=message
        )
        page.set_cookie(SIGNIN_COOKIE, fresh, httponly=True, samesite="strict", max_age=900)
        return page

    if not pre or not secrets.compare_digest(pre.encode(), csrf.encode()):
        return again("The sign-in form expired; please sign in again.", 403)
    throttle = request.app.state.auth_throttle
    try:
        throttle.check(request)
    except HTTPException as busy:
        page = again(f"{str(busy.detail).capitalize()}.", busy.status_code)
        page.headers.update(busy.headers or {})
        return page
    principal = await request.app.state.tokens.verify(token.strip())
    if principal is None:
        throttle.failed(request)
        return again(
            "That token is not valid or was revoked. Create one with "
            "`weavergen token create --role viewer|operator|admin`.",
            401,
        )
    cookie, _ = await sessions(request).create(principal)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        max_age=SESSION_HOURS * 3600,
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = await web_session(request)
    if session is not None:
        await check_csrf(request, session)
        await sessions(request).end(request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# ---- pages ------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request) -> Response:
    session = await signed_in(request)
    return render(request, "dashboard.html", session, patterns=PATTERNS)


@router.get("/diagrams", response_class=HTMLResponse)
async def diagrams_page(request: Request) -> Response:
    session = await signed_in(request)
    catalog = request.app.state.engine.catalog
    diagrams, decisions = await catalog.list(), await catalog.decisions.list()
    return render(request, "diagrams.html", session, diagrams=diagrams, decisions=decisions)


@router.get("/diagrams/new", response_class=HTMLResponse)
async def new_diagram_page(request: Request) -> Response:
    session = await signed_in(request)
    return render(request, "diagram.html", session, diagram_id="")


@router.get("/diagrams/{diagram_id}", response_class=HTMLResponse)
async def diagram_page(request: Request, diagram_id: str) -> Response:
    session = await signed_in(request)
    await request.app.state.engine.catalog.get(diagram_id)  # 404 page for an unknown id
    return render(request, "diagram.html", session, diagram_id=diagram_id)


@router.get("/runs/new", response_class=HTMLResponse)
async def new_run_page(request: Request) -> Response:
    session = await signed_in(request, "operator")
    return _run_form(request, session, {}, None)


def _run_form(
    request: Request, session: WebSession, values: dict[str, Any], error: str | None
) -> HTMLResponse:
    return render(
        request,
        "run_new.html",
        session,
        400 if error else 200,
        values=values,
        error=error,
        patterns=PATTERNS,
        languages=LANGUAGES,
    )


@router.post("/runs/new", response_class=HTMLResponse)
async def start_run(
    request: Request,
    text: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "python",
    pattern: Annotated[str, Form()] = "",
    files: list[UploadFile] | None = None,
) -> Response:
    session = await signed_in(request, "operator")
    await check_csrf(request, session)
    text = text.replace("\r\n", "\n")  # browsers send CRLF; maxlength counted LF
    values = {"text": text, "language": language[:20], "pattern": pattern[:64]}
    contents: dict[str, str] = {}
    for f in files or []:
        if not f.filename:
            continue  # the empty file input
        if f.filename in contents:
            return _run_form(request, session, values, f"Two files are named {f.filename}.")
        data = await f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return _run_form(request, session, values, f"{f.filename} is over 200 kB.")
        try:
            contents[f.filename] = data.decode()
        except UnicodeDecodeError:
            return _run_form(request, session, values, f"{f.filename} is not UTF-8 text.")
    try:
        body = RunRequest(
            text=text.strip(),
            language=language,  # type: ignore[arg-type]  # RunRequest checks it
            pattern=pattern or None,
            files=contents,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()
        )
        return _run_form(request, session, values, f"The request was not started: {problems}")
    try:
        run_id = await request.app.state.engine.runs.start(body, created_by=session.principal.name)
    except EngineError as exc:
        return _run_form(request, session, values, exc.message)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> Response:
    session = await signed_in(request)
    queries = request.app.state.queries
    try:
        found = await queries.resolve_run(run_id)  # an id, or the start of one
    except BadRequest:  # not a run id at all
        raise NotFound(f"There is no page at /runs/{run_id}: that is not a run id.") from None
    run = await queries.run_summary(found)
    return render(request, "run.html", session, run=run)


@router.post("/incidents/{incident_id}/retry")
async def retry_incident(request: Request, incident_id: UUID) -> Response:
    session = await signed_in(request, "operator")
    await check_csrf(request, session)
    result = await request.app.state.engine.runs.retry_incident(
        incident_id, by=session.principal.name
    )
    request.app.state.changes.touch(result["run_id"])
    return RedirectResponse(f"/runs/{result['run_id']}", status_code=303)
