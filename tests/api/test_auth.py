"""State-changing endpoints need a bearer token with the right role; tokens are stored hashed."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from tests.servers import BIN, Environment


def create_token(env: Environment, role: str) -> str:
    out = subprocess.run(
        [str(BIN / "weavergen"), "token", "create", "--role", role, "--name", f"test-{role}"],
        env=env.env,
        cwd=env.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("wg_")
    return token


@pytest.fixture(scope="module")
def tokens(env: Environment) -> dict[str, str]:
    return {role: create_token(env, role) for role in ("viewer", "operator")}


RUN = {"text": "Write a function add(a, b)", "language": "python", "pattern": "quick"}
ZERO = "00000000-0000-0000-0000-000000000000"
STATE_CHANGING = [
    ("POST", "/api/runs", {"json": RUN}),
    ("POST", f"/api/runs/{ZERO}/tasks/{ZERO}/complete", {"json": {"data": {}}}),
    ("POST", f"/api/incidents/{ZERO}/retry", {}),
    ("POST", "/api/diagrams", {"files": {"file": ("x.bpmn", b"<x/>")}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), STATE_CHANGING)
def test_no_token_is_401(env: Environment, method: str, path: str, kwargs: dict) -> None:
    with env.client(token="") as anonymous:
        resp = anonymous.request(method, path, **kwargs)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "kwargs"), STATE_CHANGING)
def test_bad_token_is_401(env: Environment, method: str, path: str, kwargs: dict) -> None:
    with env.client(token="wg_not-a-real-token") as client:
        assert client.request(method, path, **kwargs).status_code == 401


def test_viewer_cannot_start_runs(env: Environment, tokens: dict[str, str]) -> None:
    with env.client(tokens["viewer"]) as viewer:
        resp = viewer.post("/api/runs", json=RUN)
        assert resp.status_code == 403
        assert "operator" in resp.json()["detail"]
        assert viewer.get("/api/runs").status_code == 200


def test_operator_cannot_upload_diagrams(env: Environment, tokens: dict[str, str]) -> None:
    with env.client(tokens["operator"]) as operator:
        resp = operator.post("/api/diagrams", files={"file": ("x.bpmn", b"<x/>")})
    assert resp.status_code == 403


def test_tokens_are_stored_hashed(env: Environment, tokens: dict[str, str]) -> None:
    url = env.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        stored = [r[0] for r in conn.execute("SELECT token_hash FROM api_tokens")]
    assert tokens["viewer"] not in stored and len(stored[0]) == 64


READS = ["/api/runs", "/api/diagrams", "/api/operators", "/api/incidents", "/api/learning/summary"]


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_viewer_token(env: Environment, path: str) -> None:
    with env.client(token="") as anonymous:
        resp = anonymous.get(path)
    assert resp.status_code == 401
    assert "sign in" in resp.json()["detail"]


def test_viewer_cannot_save_diagrams(env: Environment, tokens: dict[str, str]) -> None:
    with env.client(tokens["viewer"]) as viewer:
        resp = viewer.post("/api/diagrams", files={"file": ("x.bpmn", b"<x/>")})
        assert resp.status_code == 403
        assert "admin" in resp.json()["detail"]
        assert viewer.get("/api/diagrams").status_code == 200
