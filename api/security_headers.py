"""Security headers on every answer, and a Content-Security-Policy the pages satisfy: their
scripts and styles come from /static only (no inline script anywhere; a few fixed inline
styles of bpmn-js and dmn-js allowed by hash; CodeMirror's generated styles go to a
constructed style sheet instead, see web/build.mjs; the browser tests fail on any
violation), nothing is framed, forms post back here. FastAPI's own /docs and /redoc pages
load Swagger UI and ReDoc from a CDN and are left without the policy."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # two inline styles bpmn-js (diagram-js) sets in the editor's page, by hash
        "style-src 'self' 'unsafe-hashes' 'sha256-nR5hyLltSjfvi2rqC26RbcredWrJvTaPA1yqPX96jpY=' "
        "'sha256-LIWyuNLBDBQuKJLr4mOx2cFEzHX9lM0BrbfcAAzCvSU=' "
        # the decision page's dmn-js (dmn-js-shared/lib/util/PoweredByUtil.js): the bpmn.io
        # logo its license requires, link "position: absolute; bottom: 15px; right: 15px;
        # z-index: 100;" and image "vertical-align:middle" ...
        "'sha256-r3vOsuepBDg6tz/cOusiNJ9Y4Lp9hGQTT7pzDks1Xxc=' "
        "'sha256-CA/eh4+2R0J7cEQ14gBMtx834RIOjzMUqCM+evtrkp4=' "
        # ... and the notice a click on the logo opens: its box, backdrop, text and link
        "'sha256-JpvvTIK7ulxf/3oA+AUuVbO9Labs8npGWGm9X9nGIWw=' "
        "'sha256-9OIpRRx0bq4t4s2zyqbocMNwedniLDaxLB+FlLIjNgM=' "
        "'sha256-GAdrtwahSjGXI0UQQnfyEVtPn+wfgQxvyrjyQuByfuU=' "
        "'sha256-ZG9bHUWWXDZyu7zfItuLwGK+cah/hweM0RfXpZpxZVM=' "
        # dmn-js-decision-table's hidden drag image while a rule or column is dragged
        # (features/drag-and-drop/DragAndDrop.js: visibility: hidden; position: fixed; ...)
        "'sha256-T+dPSjRVHalDc/mwQm0/E2bredKPUxLfYOuU3MOV1BE='",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_WITHOUT_CSP = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds the headers above to each HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(_ALWAYS)
        if not scope["path"].startswith(_WITHOUT_CSP):
            extra.append((b"content-security-policy", CSP.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
