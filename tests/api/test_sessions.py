"""Browser sessions over plain HTTP: sign-in with a token, cookie, CSRF, roles on pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_auth import RUN, create_token
from tests.servers import Environment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokens(env: Environment) -> dict[str, str]:
    return {role: create_token(env, role) for role in ("viewer", "operator")} | {"admin": env.token}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf"[^>]*value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert found, html[:500]
    return found.group(1)


def sign_in(env: Environment, token: str) -> httpx.Client:
    browser = httpx.Client(base_url=env.url, timeout=30)
    form = browser.get("/signin")
    resp = browser.post(
        "/signin", data={"token": token, "csrf": csrf_of(form.text), "next": "/diagrams"}
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == "/diagrams"
    cookie = resp.headers["set-cookie"]
    assert "wg_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    return browser


@pytest.fixture()
def viewer(env: Environment, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    c = sign_in(env, tokens["viewer"])
    yield c
    c.close()


@pytest.fixture()
def operator(env: Environment, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    c = sign_in(env, tokens["operator"])
    yield c
    c.close()


def page_csrf(client: httpx.Client, path: str = "/") -> str:
    resp = client.get(path)
    assert resp.status_code == 200, resp.text
    return csrf_of(resp.text)


def test_pages_send_strangers_to_sign_in(env: Environment) -> None:
    with httpx.Client(base_url=env.url, timeout=30) as stranger:
        resp = stranger.get("/runs/new?x=1")
        assert resp.status_code == 303
        assert resp.headers["location"] == "/signin?next=/runs/new%3Fx%3D1"
        assert stranger.get("/signin").status_code == 200


def test_sign_in_refuses_bad_tokens_and_forged_forms(env: Environment) -> None:
    with httpx.Client(base_url=env.url, timeout=30) as browser:
        form = browser.get("/signin")
        bad = browser.post("/signin", data={"token": "wg_nope", "csrf": csrf_of(form.text)})
        assert bad.status_code == 401
        assert "not valid" in bad.text and "wg_session" not in bad.headers.get("set-cookie", "")
    with httpx.Client(base_url=env.url, timeout=30) as forger:  # no sign-in cookie
        resp = forger.post("/signin", data={"token": env.token, "csrf": "guess"})
        assert resp.status_code == 403 and "wg_session" not in resp.headers.get("set-cookie", "")


def test_sign_in_never_redirects_off_site(env: Environment) -> None:
    with httpx.Client(base_url=env.url, timeout=30) as browser:
        form = browser.get("/signin")
        resp = browser.post(
            "/signin",
            data={"token": env.token, "csrf": csrf_of(form.text), "next": "//evil.example/"},
        )
        assert resp.status_code == 303 and resp.headers["location"] == "/"


def test_viewer_reads_but_cannot_start_runs_or_save(viewer: httpx.Client) -> None:
    assert viewer.get("/").status_code == 200
    assert viewer.get("/api/runs").status_code == 200
    page = viewer.get("/runs/new")
    assert page.status_code == 403 and "needs operator" in page.text
    csrf = page_csrf(viewer)
    resp = viewer.post("/api/runs", json=RUN, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 403 and "operator" in resp.json()["detail"]
    form = viewer.post("/runs/new", data={"text": "x", "csrf": csrf})
    assert form.status_code == 403
    diagram = viewer.post(
        "/api/diagrams", files={"file": ("x.bpmn", b"<x/>")}, headers={"X-CSRF-Token": csrf}
    )
    assert diagram.status_code == 403
    assert 'id="save-btn"' not in viewer.get("/diagrams/quick").text


def test_operator_starts_runs_with_csrf_but_cannot_save_diagrams(operator: httpx.Client) -> None:
    no_csrf = operator.post("/api/runs", json=RUN)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
    csrf = page_csrf(operator, "/runs/new")
    resp = operator.post(
        "/runs/new", data={"text": RUN["text"], "language": "python", "csrf": csrf}
    )
    assert resp.status_code == 303 and resp.headers["location"].startswith("/runs/")
    assert operator.get(resp.headers["location"]).status_code == 200
    diagram = operator.post(
        "/api/diagrams", files={"file": ("x.bpmn", b"<x/>")}, headers={"X-CSRF-Token": csrf}
    )
    assert diagram.status_code == 403 and "admin" in diagram.json()["detail"]


def test_bad_run_form_keeps_what_was_typed(operator: httpx.Client) -> None:
    csrf = page_csrf(operator, "/runs/new")
    resp = operator.post(
        "/runs/new",
        data={"text": "Keep this text please", "language": "cobol", "csrf": csrf},
    )
    assert resp.status_code == 400
    assert "Keep this text please" in resp.text and "language" in resp.text


def test_sign_out_ends_the_session(env: Environment, tokens: dict[str, str]) -> None:
    browser = sign_in(env, tokens["viewer"])
    csrf = page_csrf(browser)
    cookie = browser.cookies["wg_session"]
    assert browser.post("/signout", data={"csrf": csrf}).status_code == 303
    browser.close()
    with httpx.Client(base_url=env.url, timeout=30, cookies={"wg_session": cookie}) as replay:
        assert replay.get("/api/runs").status_code == 401
        assert replay.get("/").status_code == 303


def test_bad_input_never_gives_a_500(env: Environment, operator: httpx.Client) -> None:
    csrf = page_csrf(operator, "/runs/new")
    odd_csrf = operator.post(
        "/api/runs", json=RUN, headers={"X-CSRF-Token": "\xe9t\xe9".encode("latin-1")}
    )
    assert odd_csrf.status_code == 403
    with httpx.Client(base_url=env.url, timeout=30) as browser:
        form = browser.post("/signin", data={"token": "x", "csrf": "é"})
        assert form.status_code == 403
    nul = operator.post("/api/runs", json={**RUN, "text": "a\x00b"}, headers={"X-CSRF-Token": csrf})
    assert nul.status_code == 422 and "NUL" in nul.text
    assert operator.get("/api/runs", params={"q": "a\x00b"}).status_code == 400
    assert operator.get("/api/diagrams/a%00b").status_code == 400
    huge = "99999999999999999999"
    assert operator.get(f"/api/diagram-versions/{huge}").status_code == 422
    zero = "00000000-0000-0000-0000-000000000000"
    assert operator.get(f"/api/runs/{zero}/events?after={huge}").status_code == 422
    page = operator.get("/runs/not-a-run")
    assert page.status_code == 404 and "no page" in page.text


def test_oversized_bodies_are_refused_before_sign_in(env: Environment) -> None:
    with httpx.Client(base_url=env.url, timeout=60) as stranger:
        resp = stranger.post(
            "/api/diagrams", files={"file": ("big.bpmn", b"x" * (13 * 1024 * 1024))}
        )
    assert resp.status_code == 413 and "MB" in resp.json()["detail"]


def test_oversized_chunked_bodies_are_refused(env: Environment) -> None:
    """No Content-Length to go by: the limit holds as the chunks arrive."""

    def chunks() -> Iterator[bytes]:
        for _ in range(14):
            yield b"x" * (1024 * 1024)

    with env.client() as api:
        resp = api.post("/api/runs", content=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 413 and "MB" in resp.json()["detail"]


def test_upper_case_extension_is_a_diagram(operator: httpx.Client) -> None:
    csrf = page_csrf(operator)
    resp = operator.post(
        "/api/diagrams/check",
        files={"file": ("QUICK.BPMN", (ROOT / "bpmn" / "quick.bpmn").read_bytes())},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status_code == 200 and resp.json()["process_id"] == "quick"
