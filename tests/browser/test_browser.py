"""Browser tests: Debian's Chromium driven by playwright-core (web/e2e/*.mjs) against the
real server, PostgreSQL, workers and the stand-in model. Screenshots and page load times
land in test-artifacts/browser/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import start_run
from tests.api.test_auth import create_token
from tests.api.test_forms import START_FORM
from tests.api.test_policies import ROUTED
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


def test_policy_is_exported_to_dmn_pinned_and_unpinned(
    browser_env: dict[str, str], api: httpx.Client
) -> None:
    stored = api.post(
        "/api/diagrams",
        files={"file": ("routed.bpmn", ROUTED.encode())},
        params={"new_version": "true"},
    )
    assert stored.status_code in (200, 201), stored.text
    started = api.post(
        "/api/runs", json={"text": "Write a function add(a, b)", "diagram": "routed"}
    )
    assert started.status_code == 201, started.text
    routed = wait_run(api, started.json()["id"])
    assert routed["status"] == "completed" and routed["learned"], routed
    try:
        run_scenario("policies", {**browser_env, "ROUTED_RUN": routed["id"]})
    finally:
        api.delete("/api/policies/pattern/pin")  # never leave the shared server pinned
    assert (ARTIFACTS / "policy-dmn.png").stat().st_size > 10_000
    assert (ARTIFACTS / "policies-run-learned.png").stat().st_size > 5_000
    [pattern] = [p for p in api.get("/api/policies").json() if p["policy"] == "pattern"]
    assert pattern["state"] == "learning" and pattern["latest_version"] >= 1


def test_heatmap_shows_the_counts_of_ten_quick_runs(
    browser_env: dict[str, str], env: Environment
) -> None:
    import json

    from tests.api.test_learning import rows
    from tests.api.test_statistics import DB_COUNTS

    output = run_scenario("heatmap", browser_env, timeout=300)
    line = next(ln for ln in output.splitlines() if ln.startswith("heatmap-counts "))
    shown = json.loads(line.removeprefix("heatmap-counts "))
    version = shown["version"]
    # what the page showed is what the learning store holds, and what the runs' steps were
    recorded = rows(
        env,
        "SELECT element_id, count(*) FROM learning_visits WHERE diagram_id = 'quick' "
        "AND diagram_version = %s AND at >= now() - interval '7 days' GROUP BY element_id",
        version,
    )
    assert shown["visits"] == dict(recorded)
    [(version_id,)] = rows(
        env,
        "SELECT id FROM diagram_versions WHERE diagram_id = 'quick' AND version = %s",
        version,
    )
    steps = rows(env, DB_COUNTS, str(version_id))
    assert shown["visits"] == {element: n for element, n, _ in steps}
    for label in ("p95-duration", "tokens"):
        assert (ARTIFACTS / f"heatmap-{label}.png").stat().st_size > 10_000


FORMS = ROOT / "tests" / "fixtures" / "forms"


def upload_with_forms(api: httpx.Client, name: str, *forms: str) -> None:
    files = [("file", (name, (FORMS / name).read_bytes(), "application/xml"))]
    files += [("forms", (f, (FORMS / f).read_bytes(), "application/json")) for f in forms]
    stored = api.post("/api/diagrams", files=files, params={"new_version": "true"})
    assert stored.status_code in (200, 201), stored.text


def order_run(output: str, name: str) -> str:
    found = re.search(rf"{name} run ([0-9a-f-]{{36}})", output)
    assert found, output[-2000:]
    return found.group(1)


def test_spiff_form_is_answered_in_the_task_inbox(
    browser_env: dict[str, str], api: httpx.Client
) -> None:
    upload_with_forms(api, "spiff_order.bpmn", "order.schema.json", "order.uischema.json")
    run_id = order_run(run_scenario("forms-spiff", browser_env), "forms-spiff")
    run = api.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "completed"
    assert any(s["element_id"] == "end_big" for s in run["steps"])
    for shot in ("start", "field-error", "sent", "completed"):
        assert (ARTIFACTS / f"forms-spiff-{shot}.png").stat().st_size > 5_000


def test_camunda_form_is_answered_in_the_task_inbox(
    browser_env: dict[str, str], api: httpx.Client
) -> None:
    upload_with_forms(api, "camunda_order.bpmn")
    run_id = order_run(run_scenario("forms-camunda", browser_env), "forms-camunda")
    run = api.get(f"/api/runs/{run_id}").json()
    answer = next(s for s in run["steps"] if s["element_id"] == "enter_order")["result"]
    assert answer == {"amount": 250, "express": True, "tier": "standard"}
    assert any(s["element_id"] == "end_big" for s in run["steps"])


def test_run_waiting_for_a_person_is_cancelled_from_its_page(
    browser_env: dict[str, str], api: httpx.Client
) -> None:
    run_scenario("cancel", browser_env)
    assert (ARTIFACTS / "cancel-cancelled.png").stat().st_size > 10_000


def test_admin_edits_a_waiting_runs_variables(
    browser_env: dict[str, str], api: httpx.Client
) -> None:
    run_scenario("variables", browser_env)
    assert (ARTIFACTS / "variables-edited.png").stat().st_size > 10_000


# the API tests' diagram whose start event has a form, with the layout a run page draws
START_FORM_LAYOUT = """  <bpmndi:BPMNDiagram id="start_with_form_diagram">
    <bpmndi:BPMNPlane id="start_with_form_plane" bpmnElement="start_with_form">
      <bpmndi:BPMNShape id="order_placed_di" bpmnElement="order_placed">
        <dc:Bounds x="152" y="102" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="big_di" bpmnElement="big" isMarkerVisible="true">
        <dc:Bounds x="245" y="95" width="50" height="50" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_big_di" bpmnElement="end_big">
        <dc:Bounds x="352" y="102" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_small_di" bpmnElement="end_small">
        <dc:Bounds x="352" y="192" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1">
        <di:waypoint x="188" y="120" /><di:waypoint x="245" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2">
        <di:waypoint x="295" y="120" /><di:waypoint x="352" y="120" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3">
        <di:waypoint x="270" y="145" /><di:waypoint x="270" y="210" />
        <di:waypoint x="352" y="210" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
"""
START_FORM_NAMESPACES = (
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="d_start"'
)


def test_start_form_is_filled_on_the_start_page(
    browser_env: dict[str, str], api: httpx.Client
) -> None:
    xml = START_FORM.replace('id="d_start"', START_FORM_NAMESPACES).replace(
        "</bpmn:definitions>", START_FORM_LAYOUT + "</bpmn:definitions>"
    )
    files = {"file": ("start_with_form.bpmn", xml, "application/xml")}
    stored = api.post("/api/diagrams", files=files, params={"new_version": "true"})
    assert stored.status_code in (200, 201), stored.text
    run_scenario("start-form", browser_env)
