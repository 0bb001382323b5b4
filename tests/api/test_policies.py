"""Learned policies as DMN tables (issue 16) over HTTP: export a policy as a decision table,
pin a version (its own, or one an admin edited), see the run's pattern decision name the
table and rule, unpin, the drift report; and the errors, each with a message.

A server of its own: a pin changes how every run on the server chooses its pattern."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from lxml import etree

from adapters.learning import LearningUnavailable
from api import policy_actions as actions
from engine.decisions.rules import CANDIDATES
from engine.policies.distil import LANGUAGES
from engine.policies.dmn import DMN, decide, decision_id, table_xml
from engine.policies.journal import Pin
from tests.api.helpers import start_run
from tests.api.test_auth import create_token
from tests.api.test_sessions import csrf_of, sign_in
from tests.servers import Cluster, Environment, Standin, make_environment, wait_run

REQUEST = "Write a function add(a, b)"  # the rules classify it: task type function, quick
ROUTED = (Path(__file__).parents[1] / "fixtures" / "routed.bpmn").read_text()


@pytest.fixture(scope="module")
def policies_env(cluster: Cluster, standin: Standin, workroot: Path) -> Iterator[Environment]:
    e = make_environment(cluster, standin, "policies", workroot)
    e.start_server(workers=1)
    yield e
    e.stop()


@pytest.fixture()
def admin(policies_env: Environment) -> Iterator[httpx.Client]:
    with policies_env.client() as c:
        yield c


def pattern_decision(api: httpx.Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    """The run's decide.pattern decision, once made; the run is then cancelled (cheap)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/api/runs/{run_id}").raise_for_status().json()
        found = [d for d in run["decisions"] if d["element_id"] == "choose_pattern"]
        if found:
            api.post(f"/api/runs/{run_id}/cancel")  # 409 when it already ended: fine
            assert isinstance(run["learned"], list)
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} made no pattern decision in {timeout} s")


def with_output(xml: str, task_type: str, output: str) -> str:
    """The table with every rule for `task_type` giving `output` (an admin's edit)."""
    root = etree.fromstring(xml.encode())
    ns = {"d": DMN}
    for rule in root.iterfind(".//d:rule", ns):
        first = rule.find("d:inputEntry/d:text", ns)
        if first is not None and first.text == f'"{task_type}"':
            rule.find("d:outputEntry/d:text", ns).text = f'"{output}"'  # type: ignore[union-attr]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def test_reads_need_a_viewer_and_changes_an_admin(policies_env: Environment) -> None:
    with policies_env.client(token="") as anonymous:
        for method, path in (
            ("GET", "/api/policies"),
            ("GET", "/api/policies/pattern/drift"),
            ("POST", "/api/policies/pattern/export"),
            ("POST", "/api/policies/pattern/pin"),
            ("DELETE", "/api/policies/pattern/pin"),
        ):
            answer = anonymous.request(method, path)
            assert answer.status_code == 401, (method, path, answer.text)
            assert "sign in" in answer.json()["detail"]
    with policies_env.client(create_token(policies_env, "viewer")) as viewer:
        listed = viewer.get("/api/policies")
        assert listed.status_code == 200, listed.text
        assert [p["policy"] for p in listed.json()] == ["pattern", "route", "failure"]
        for method, path in (
            ("POST", "/api/policies/route/export"),
            ("POST", "/api/policies/route/pin"),
            ("DELETE", "/api/policies/route/pin"),
        ):
            answer = viewer.request(method, path)
            assert answer.status_code == 403, (method, path, answer.text)
            assert "admin" in answer.json()["detail"]


def test_unknown_policies_and_missing_tables_say_what_to_do(admin: httpx.Client) -> None:
    for method, path in (
        ("GET", "/api/policies/routing/drift"),
        ("POST", "/api/policies/routing/export"),
        ("POST", "/api/policies/routing/pin"),
        ("DELETE", "/api/policies/routing/pin"),
    ):
        answer = admin.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
        assert "pattern, route, failure" in answer.json()["detail"]
    never = admin.post("/api/policies/failure/pin")
    assert never.status_code == 404 and "export it first" in never.json()["detail"]
    assert "/api/policies/failure/export" in never.json()["detail"]
    unpinned = admin.delete("/api/policies/failure/pin")
    assert unpinned.status_code == 404 and "not pinned" in unpinned.json()["detail"]
    drift = admin.get("/api/policies/failure/drift").json()
    assert drift["pinned"] is None and drift["disagreements"] == []
    assert "not pinned" in drift["note"]
    odd = admin.post("/api/policies/failure/pin", json={"version": 0})
    assert odd.status_code == 422
    extra = admin.post("/api/policies/failure/pin", json={"table": "x"})
    assert extra.status_code == 422


def test_a_pinned_table_decides_the_pattern_until_unpinned(admin: httpx.Client) -> None:
    [pattern] = [p for p in admin.get("/api/policies").json() if p["policy"] == "pattern"]
    assert pattern["state"] == "learning" and pattern["pinned"] is None

    # export: with no evidence yet, one rule per task type and language
    exported = admin.post("/api/policies/pattern/export")
    assert exported.status_code == 201, exported.text
    out = exported.json()
    assert out["decision_id"] == "learned_pattern" and out["version"] == 1
    assert (
        out["rules"] == sum(len(c) > 1 for c in CANDIDATES.values()) * len(LANGUAGES)
        and out["editor"] == "/decisions/learned_pattern"
    )
    again = admin.post("/api/policies/pattern/export").json()
    assert (again["version"], again["created"]) == (1, False), "nothing new was learned"
    table = admin.get("/api/decisions/learned_pattern").json()
    assert table["versions"][0]["filename"] == "learned_pattern.dmn"
    said = decide(table["xml"], "pattern", {"task_type": "function", "language": "python"})
    assert (said.output, said.rule) == ("quick", 1)

    pinned = admin.post("/api/policies/pattern/pin")
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["pinned"]["label"] == "pinned DMN v1"
    [listed] = [p for p in admin.get("/api/policies").json() if p["policy"] == "pattern"]
    assert listed["state"] == "pinned"
    assert listed["pinned"]["label"] == "pinned DMN v1"
    assert listed["pinned"]["decision_id"] == "learned_pattern"
    assert listed["pinned"]["pinned_by"] == "local-cli"
    decision = pattern_decision(admin, start_run(admin, REQUEST))
    assert decision["choice"] == "quick"
    assert decision["evidence"]["rule"] == "pinned DMN v1: rule 1 says quick"
    assert decision["evidence"]["pinned"] == {"table": "learned_pattern", "version": 1, "rule": 1}

    # an admin's edit (a new version uploaded as the DMN editor saves it) can be pinned
    edited = with_output(table["xml"], "function", "standard")
    files = {"file": ("learned_pattern.dmn", edited, "application/xml")}
    saved = admin.post("/api/decisions", files=files, params={"new_version": "true"})
    assert saved.status_code == 201 and saved.json()["version"] == 2, saved.text
    assert admin.post("/api/policies/pattern/pin", json={"version": 3}).status_code == 404
    mismatch = admin.post(
        "/api/policies/pattern/pin", json={"version": 1, "version_id": saved.json()["version_id"]}
    )
    assert mismatch.status_code == 422, mismatch.text
    repinned = admin.post("/api/policies/pattern/pin", json={"version": 2})
    assert repinned.status_code == 200, repinned.text
    assert repinned.json()["pinned"]["label"] == "pinned DMN v2"
    decision = pattern_decision(admin, start_run(admin, REQUEST))
    assert decision["choice"] == "standard"
    assert decision["evidence"]["rule"].startswith("pinned DMN v2: rule 1 says standard")
    drift = admin.get("/api/policies/pattern/drift").json()
    assert drift["pinned"] == "pinned DMN v2" and drift["disagreements"] == []

    # a table of another policy is not this one's
    route = admin.post("/api/policies/route/export")
    assert route.status_code == 201, route.text
    wrong = admin.post("/api/policies/pattern/pin", json={"version_id": route.json()["version_id"]})
    assert wrong.status_code == 422 and "learned_pattern" in wrong.json()["detail"]
    assert (
        admin.post("/api/policies/pattern/pin", json={"version_id": 2**31 - 1}).status_code == 404
    )

    unpinned = admin.delete("/api/policies/pattern/pin")
    assert unpinned.status_code == 200 and unpinned.json()["state"] == "learning"
    decision = pattern_decision(admin, start_run(admin, REQUEST))
    assert "pinned" not in decision["evidence"]
    assert not decision["evidence"]["rule"].startswith("pinned")
    assert decision["choice"] == "quick", "learning starts from the rules' choice"
    drift = admin.get("/api/policies/pattern/drift").json()
    assert drift["pinned"] is None and drift["disagreements"] == []


def test_the_run_json_and_page_show_its_learned_choices(admin: httpx.Client) -> None:
    stored = admin.post("/api/diagrams", files={"file": ("routed.bpmn", ROUTED.encode())})
    assert stored.status_code == 201, stored.text
    started = admin.post("/api/runs", json={"text": REQUEST, "diagram": "routed"})
    assert started.status_code == 201, started.text
    run = wait_run(admin, started.json()["id"])
    assert run["status"] == "completed", run.get("error")
    [learned] = run["learned"]
    assert (learned["policy"], learned["element_id"], learned["choice"]) == (
        "route",
        "implement",
        "coder-b",
    )
    assert learned["explored"] is False and learned["context"]["group"] == "coder-b"
    estimates = learned["evidence"]["estimates"]
    assert set(estimates) == {"coder-b", "coder"}
    assert {"success_mean", "success_sampled", "mean_ms", "mean_tokens", "utility"} <= set(
        estimates["coder"]
    )
    assert learned["evidence"]["rule"] and learned["created_at"]


def test_the_policies_page_exports_pins_and_unpins(policies_env: Environment) -> None:
    browser = sign_in(policies_env, policies_env.token)
    try:
        page = browser.get("/policies")
        assert page.status_code == 200, page.text
        assert 'data-policy="failure" data-state="learning"' in page.text
        assert "Export as DMN" in page.text and 'href="/policies"' in page.text
        csrf = csrf_of(page.text)
        forged = browser.post("/policies/failure/export", data={"csrf": "guess"})
        assert forged.status_code == 403
        exported = browser.post("/policies/failure/export", data={"csrf": csrf})
        assert exported.status_code == 303, exported.text
        assert exported.headers["location"] == "/decisions/learned_failure"
        editor = browser.get("/decisions/learned_failure")
        assert editor.status_code == 200 and 'id="decision-save-btn"' in editor.text
        table = browser.get("/api/decisions/learned_failure").json()
        assert "any other failure: retry" in table["xml"], "the catch-all rule"

        pinned = browser.post("/policies/failure/pin", data={"csrf": csrf})
        assert pinned.status_code == 303 and pinned.headers["location"].startswith("/policies")
        page = browser.get("/policies").text
        assert 'data-policy="failure" data-state="pinned"' in page
        assert "pinned DMN v1" in page and "Drift" in page and "Unpin" in page
        # the JSON API from a browser session needs the CSRF header as the forms do
        assert browser.delete("/api/policies/failure/pin").status_code == 403
        unpinned = browser.post("/policies/failure/unpin", data={"csrf": csrf})
        assert unpinned.status_code == 303
        page = browser.get("/policies").text
        assert 'data-policy="failure" data-state="learning"' in page
        missing = browser.post("/policies/nothing/pin", data={"csrf": csrf})
        assert missing.status_code == 404 and "pattern, route, failure" in missing.text
    finally:
        browser.close()
    viewer = sign_in(policies_env, create_token(policies_env, "viewer"))
    try:
        page = viewer.get("/policies")
        assert page.status_code == 200 and "Export as DMN" not in page.text
        refused = viewer.post("/policies/failure/export", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403 and "admin" in refused.text
    finally:
        viewer.close()


class _DownOutcomes:
    """An outcome store that cannot answer."""

    async def pattern_stats(self, *args: Any) -> Any:
        raise LearningUnavailable("InfluxDB did not answer")

    async def policy_stats(self, *args: Any, **kwargs: Any) -> Any:
        raise LearningUnavailable("InfluxDB did not answer")


class _PinnedJournal:
    async def pin(self, policy: str) -> Pin:
        xml = table_xml(policy, [])
        return Pin(policy, 7, decision_id(policy), 2, xml, "someone")


async def test_an_unavailable_learning_store_is_a_503_that_says_so() -> None:
    policies = SimpleNamespace(
        learning=SimpleNamespace(outcomes=_DownOutcomes()), journal=_PinnedJournal()
    )
    engine: Any = SimpleNamespace(services=SimpleNamespace(policies=policies))
    with pytest.raises(actions.PolicyStoreUnavailable) as exported:
        await actions.export(engine, "pattern", "someone")
    assert exported.value.status_code == 503
    assert "InfluxDB did not answer" in exported.value.message
    with pytest.raises(actions.PolicyStoreUnavailable) as drifted:
        await actions.drift(engine, "route")
    assert "drift of the route policy" in drifted.value.message
