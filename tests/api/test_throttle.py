"""100 bad tokens from one client address: 429 with Retry-After once past the limit (20 a
minute); a good token from another address still works."""

from __future__ import annotations

import re

import httpx

from tests.servers import Environment


def _from(address: str, env: Environment, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=env.url,
        headers={"Authorization": f"Bearer {token}"},
        transport=httpx.HTTPTransport(local_address=address),
        timeout=30,
    )


def test_failing_tokens_are_throttled_per_address(env: Environment) -> None:
    with _from("127.0.0.5", env, "wg_not-a-token") as stranger:
        answers = [stranger.get("/api/runs") for _ in range(100)]
    codes = [r.status_code for r in answers]
    assert codes[:20] == [401] * 20, codes
    assert codes[20:] == [429] * 80, codes
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert "too many failed sign-ins or bad tokens from 127.0.0.5" in answers[-1].text
    with _from("127.0.0.6", env, env.token) as colleague:
        assert colleague.get("/api/runs").status_code == 200
    with _from("127.0.0.5", env, env.token) as again:  # until the minute is over
        assert again.get("/api/runs").status_code == 429


def test_failing_sign_ins_are_throttled_per_address(env: Environment) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.7")
    with httpx.Client(base_url=env.url, transport=transport, timeout=30) as browser:
        page = browser.get("/signin").text
        codes = []
        for _ in range(100):
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None, page[:500]
            resp = browser.post("/signin", data={"token": "wg_wrong", "csrf": csrf.group(1)})
            codes.append(resp.status_code)
            page = resp.text
    assert codes[:20] == [401] * 20, codes
    assert codes[20:] == [429] * 80, codes
    assert "Too many failed sign-ins" in page and "try again in" in page
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
