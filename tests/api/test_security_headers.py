"""Security headers on pages and API answers alike; FastAPI's /docs (Swagger UI from a CDN)
is the one page without the Content-Security-Policy. (The browser tests fail on any
violation of the policy, so the pages are known to satisfy it.)"""

from __future__ import annotations

import httpx

from tests.servers import Environment


def test_security_headers_everywhere(env: Environment, api: httpx.Client) -> None:
    for resp in (httpx.get(f"{env.url}/signin"), api.get("/api/runs"), api.get("/nowhere")):
        assert resp.headers["x-content-type-options"] == "nosniff", resp.url
        assert resp.headers["x-frame-options"] == "DENY"
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "content-security-policy" not in httpx.get(f"{env.url}/docs").headers
