"""Security headers on every answer, and a Content-Security-Policy the pages satisfy: their
scripts and styles come from /static only (no inline script anywhere; two inline styles of
the diagram editor allowed by hash; the browser tests fail on any violation), nothing is framed,
forms post back here. FastAPI's own /docs and /redoc pages load Swagger UI and ReDoc from
a CDN and are left without the policy."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # two inline styles bpmn-js (diagram-js) sets in the editor's page, by hash
        "style-src 'self' 'unsafe-hashes' 'sha256-nR5hyLltSjfvi2rqC26RbcredWrJvTaPA1yqPX96jpY=' "
        "'sha256-LIWyuNLBDBQuKJLr4mOx2cFEzHX9lM0BrbfcAAzCvSU='",
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
