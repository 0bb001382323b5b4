"""DMN decision tables: uploaded with a diagram or alone, evaluated by business rule tasks
(SpiffWorkflow's DMN engine over restricted expressions), versioned and pinned by runs."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.servers import wait_run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dmn"
DMN = (FIXTURES / "discount.dmn").read_text()
BPMN = (FIXTURES / "order_discount.bpmn").read_text()


def with_id(text: str, suffix: str) -> str:
    """The fixtures under ids of their own, so each test starts from nothing."""
    return text.replace("discount_decision", f"discount_decision{suffix}").replace(
        "order_discount", f"order_discount{suffix}"
    )


def upload(api: httpx.Client, bpmn: str, *dmn: str, new_version: bool = False) -> httpx.Response:
    files = [("file", ("order.bpmn", bpmn, "application/xml"))]
    files += [("decisions", (f"table{i}.dmn", d, "application/xml")) for i, d in enumerate(dmn)]
    params = {"new_version": str(new_version).lower()}
    return api.post("/api/diagrams", files=files, params=params)


def order(api: httpx.Client, process_id: str) -> str:
    started = api.post("/api/runs", json={"text": "an order", "diagram": process_id})
    assert started.status_code == 201, started.text
    return started.json()["id"]


def finish(api: httpx.Client, run_id: str, amount: int) -> str:
    """Enter the order's amount; the element id of the end event the run reached."""
    waiting = wait_run(api, run_id, ("waiting",))
    [task] = [s for s in waiting["steps"] if s["state"] == "ready"]
    path = f"/api/runs/{run_id}/tasks/{task['task_id']}/complete"
    assert api.post(path, json={"data": {"amount": amount}}).status_code == 200
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run.get("error")
    [end] = [s["element_id"] for s in run["steps"] if s["element_id"].startswith("end_")]
    return end


def test_decision_uploaded_with_its_diagram_drives_the_gateway(api: httpx.Client) -> None:
    answer = upload(api, with_id(BPMN, "_a"), with_id(DMN, "_a"))
    assert answer.status_code == 201, answer.text
    [decision] = answer.json()["decisions"]
    assert decision["decision_id"] == "discount_decision_a" and decision["version"] == 1
    assert finish(api, order(api, "order_discount_a"), 250) == "end_discounted"
    assert finish(api, order(api, "order_discount_a"), 50) == "end_full_price"
    table = api.get("/api/decisions/discount_decision_a").json()
    assert table["name"] == "Discount" and "rule_large" in table["xml"]


def test_a_new_decision_version_is_used_by_new_runs_and_pinned_by_old_ones(
    api: httpx.Client,
) -> None:
    assert upload(api, with_id(BPMN, "_b"), with_id(DMN, "_b")).status_code == 201
    before = order(api, "order_discount_b")  # pins the diagram built with v1 of the table
    wait_run(api, before, ("waiting",))
    cheaper = with_id(DMN, "_b").replace("&lt; 100", "&lt; 40").replace("&gt;= 100", "&gt;= 40")
    files = {"file": ("discount.dmn", cheaper, "application/xml")}
    clash = api.post("/api/decisions", files=files)
    assert clash.status_code == 409 and "new_version=true" in clash.text
    stored = api.post("/api/decisions", files=files, params={"new_version": "true"})
    assert stored.status_code == 201, stored.text
    assert stored.json()["version"] == 2
    [rebound] = stored.json()["rebound"]
    assert rebound["diagram_id"] == "order_discount_b" and rebound["version"] == 2
    assert finish(api, before, 50) == "end_full_price", "the run keeps the table it pinned"
    after = order(api, "order_discount_b")
    assert finish(api, after, 50) == "end_discounted"
    for run_id, version in ((before, 1), (after, 2)):
        [pinned] = api.get(f"/api/runs/{run_id}").json()["pinned_decisions"]
        assert (pinned["decision_id"], pinned["version"]) == ("discount_decision_b", version)


def test_bad_decisions_are_refused_with_element_and_line(api: httpx.Client) -> None:
    escape = with_id(DMN, "_c").replace('"gold"', '__import__("os").system("id")')
    answer = upload(api, with_id(BPMN, "_c"), escape)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["element_id"] == "rule_large_tier" and error["file"] == "table0.dmn"
    assert error["line"] == escape[: escape.index("__import__")].count("\n") + 1
    missing = upload(api, with_id(BPMN, "_d"))
    assert missing.status_code == 422
    [error] = missing.json()["errors"]
    assert error["element_id"] == "decide_discount" and "not uploaded" in error["message"]
    assert api.get("/api/decisions/discount_decision_c").status_code == 404, "nothing stored"


def test_camunda_decision_ref_is_understood(api: httpx.Client) -> None:
    camunda = (
        with_id(BPMN, "_e")
        .replace(
            'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"',
            'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
            'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"',
        )
        .replace(
            '<bpmn:businessRuleTask id="decide_discount" name="Decide the discount">',
            '<bpmn:businessRuleTask id="decide_discount" name="Decide the discount" '
            'camunda:decisionRef="discount_decision_e">',
        )
    )
    start = camunda.index("<bpmn:extensionElements>")
    end = camunda.index("</bpmn:extensionElements>") + len("</bpmn:extensionElements>")
    camunda = camunda[:start] + camunda[end:]
    assert upload(api, camunda, with_id(DMN, "_e")).status_code == 201
    assert finish(api, order(api, "order_discount_e"), 500) == "end_discounted"
