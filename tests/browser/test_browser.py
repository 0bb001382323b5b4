"""Browser tests: Debian's Chromium driven by playwright-core (web/e2e/*.mjs) against the
real server, PostgreSQL, workers and the stand-in model. Screenshots and page load times
land in test-artifacts/browser/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import start_run
from tests.api.test_auth import create_token
from tests.servers import Environment, Standin, wait_run

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "web" / "e2e"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser_env(env: Environment) -> dict[str, str]:
    node = shutil.which("node")
    if node is None or not Path(CHROMIUM).exists():
        raise RuntimeError(f"browser tests need node and {CHROMIUM}: run `make browser`")
    if not (ROOT / "web" / "dist" / "run.js").exists():
        raise RuntimeError("web/dist is missing: run `make web` to build the pages' scripts")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "page-load.jsonl").unlink(missing_ok=True)
    return {
        **os.environ,
        "BASE_URL": env.url,
        "ARTIFACTS": str(ARTIFACTS),
        "CHROMIUM": CHROMIUM,
        "TOKEN_ADMIN": env.token,
        "TOKEN_OPERATOR": create_token(env, "operator"),
        "TOKEN_VIEWER": create_token(env, "viewer"),
    }


def run_scenario(name: str, env: dict[str, str], timeout: float = 240) -> str:
    proc = subprocess.run(
        ["node", str(E2E / f"{name}.mjs")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"browser scenario {name} failed:\n{output[-6000:]}"
    assert f"scenario {name} passed" in proc.stdout
    return output


def test_editor_marks_errors_then_saves_a_fixed_version(
    browser_env: dict[str, str], api: httpx.Client
) -> None:
    run_scenario("editor", browser_env)
    saved = api.get("/api/diagrams/browser_demo").json()
    xml = saved["xml"]
    assert 'name="Implement it (edited in the browser)"' in xml
    assert 'serviceTaskOperator id="llm.generate"' in xml and 'llm.generat"' not in xml
    assert saved["versions"][-1]["created_by"] == "local-cli"
    # loop references to task-data variables survive the editor (bpmn-moddle drops them)
    assert "<bpmn:loopDataInputRef>groups</bpmn:loopDataInputRef>" in xml
    assert "<bpmn:loopDataOutputRef>candidates</bpmn:loopDataOutputRef>" in xml


def test_run_from_form_is_watched_live_to_the_end(browser_env: dict[str, str]) -> None:
    output = run_scenario("run", browser_env)
    assert "page-load" in output


def test_migration_is_approved_in_the_form(browser_env: dict[str, str]) -> None:
    run_scenario("approval", browser_env)


def test_incident_is_retried_from_the_run_page(
    browser_env: dict[str, str], api: httpx.Client, standin: Standin
) -> None:
    standin.configure(fail_rate=1.0)
    try:
        run_id = start_run(api, "Write a function add(a, b) that returns their sum", "quick")
        wait_run(api, run_id, ("incident",))
    finally:
        standin.configure(fail_rate=0.0)
    run_scenario("incident", {**browser_env, "INCIDENT_RUN": run_id})
    assert api.get(f"/api/runs/{run_id}").json()["status"] == "completed"


def test_roles_limit_what_the_pages_allow(browser_env: dict[str, str]) -> None:
    run_scenario("roles", browser_env)


def test_decision_table_renders_and_is_edited(
    browser_env: dict[str, str], api: httpx.Client
) -> None:
    dmn = (ROOT / "tests" / "fixtures" / "dmn" / "discount.dmn").read_bytes()
    stored = api.post(
        "/api/decisions",
        params={"new_version": "true"},
        files={"file": ("discount.dmn", dmn, "application/xml")},
    )
    assert stored.status_code == 201, stored.text
    run_scenario("decision", browser_env)
    assert (ARTIFACTS / "decision-decision-table.png").stat().st_size > 10_000
    saved = api.get("/api/decisions/discount_decision").json()
    assert saved["latest_version"] > stored.json()["version"]
    assert saved["versions"][-1]["created_by"] == "local-cli"
    large = saved["xml"][saved["xml"].index('id="rule_large_discount"') :][:120]
    assert "<text>15</text>" in large, large
