"""Forms from the diagram: spiff-arena JSON Schema files uploaded with it and Camunda
formData fields; answers are validated (422 naming the field); the inbox lists the task with
its form, lane and groups; claims keep others from completing it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.test_auth import create_token
from tests.servers import Environment, wait_run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "forms"


def upload(api: httpx.Client, name: str, *forms: str, new_version: bool = True) -> httpx.Response:
    files = [("file", (name, (FIXTURES / name).read_bytes(), "application/xml"))]
    files += [("forms", (f, (FIXTURES / f).read_bytes(), "application/json")) for f in forms]
    return api.post("/api/diagrams", files=files, params={"new_version": str(new_version).lower()})


def waiting_task(api: httpx.Client, process_id: str) -> dict:
    started = api.post("/api/runs", json={"text": "an order", "diagram": process_id})
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    wait_run(api, run_id, ("waiting",))
    [task] = api.get("/api/tasks", params={"run_id": run_id}).json()
    return task


def complete(api: httpx.Client, task: dict, data: dict) -> httpx.Response:
    path = f"/api/runs/{task['run_id']}/tasks/{task['task_id']}/complete"
    return api.post(path, json={"data": data})


def end_of(api: httpx.Client, run_id: str) -> str:
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run.get("error")
    [end] = [s["element_id"] for s in run["steps"] if s["element_id"].startswith("end_")]
    return end


@pytest.mark.parametrize(
    ("diagram", "forms", "lane", "groups"),
    [
        ("spiff_order.bpmn", ("order.schema.json", "order.uischema.json"), "Sales", []),
        ("camunda_order.bpmn", (), "Sales", ["accounting", "sales"]),
    ],
)
def test_form_answers_are_validated_and_drive_the_gateway(
    api: httpx.Client, diagram: str, forms: tuple[str, ...], lane: str, groups: list[str]
) -> None:
    assert upload(api, diagram, *forms).status_code == 201
    process_id = diagram.removesuffix(".bpmn")
    task = waiting_task(api, process_id)
    assert (task["element_id"], task["lane"], task["groups"]) == ("enter_order", lane, groups)
    schema = task["form"]["schema"]
    assert schema["required"] == ["amount"] and schema["properties"]["amount"]["type"] == "integer"
    assert task["task_id"] in {
        t["task_id"] for t in api.get("/api/tasks", params={"lane": "sales"}).json()
    }
    wrong = complete(api, task, {"amount": "lots"})
    assert wrong.status_code == 422, wrong.text
    assert [e["field"] for e in wrong.json()["errors"]] == ["/amount"]
    assert "enter_order" in wrong.json()["detail"]
    missing = complete(api, task, {"note": "no amount"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "/amount"
    assert complete(api, task, {"amount": 250}).status_code == 200
    assert end_of(api, task["run_id"]) == "end_big"
    small = waiting_task(api, process_id)
    assert complete(api, small, {"amount": 5}).status_code == 200
    assert end_of(api, small["run_id"]) == "end_small"


def test_camunda_form_fields_become_a_json_schema(api: httpx.Client) -> None:
    assert upload(api, "camunda_order.bpmn").status_code == 201
    task = waiting_task(api, "camunda_order")
    props = task["form"]["schema"]["properties"]
    assert props["amount"] == {"type": "integer", "title": "Amount", "minimum": 1}
    assert props["express"] == {"type": "boolean", "title": "Express delivery", "default": False}
    assert [o["const"] for o in props["tier"]["oneOf"]] == ["gold", "standard"]
    bad_tier = complete(api, task, {"amount": 3, "tier": "platinum"})
    assert bad_tier.status_code == 422 and bad_tier.json()["errors"][0]["field"] == "/tier"
    assert complete(api, task, {"amount": 3, "tier": "gold"}).status_code == 200


def test_a_form_file_not_uploaded_is_named_and_the_task_has_no_form(api: httpx.Client) -> None:
    fresh = (FIXTURES / "spiff_order.bpmn").read_text().replace("spiff_order", "order_nofile")
    ui = (FIXTURES / "order.uischema.json").read_bytes()
    answer = api.post(
        "/api/diagrams",
        files=[
            ("file", ("order_nofile.bpmn", fresh, "application/xml")),
            ("forms", ("order.uischema.json", ui, "application/json")),
        ],
    )
    assert answer.status_code == 201, answer.text  # SpiffWorkflow runs it: only the form is missing
    [warning] = answer.json()["warnings"]
    assert warning["element_id"] == "enter_order" and "order.schema.json" in warning["message"]
    task = waiting_task(api, "order_nofile")
    assert task["form"] is None
    assert complete(api, task, {"amount": 7}).status_code == 200


def test_claimed_tasks_are_completed_by_who_claimed_them(
    env: Environment, api: httpx.Client
) -> None:
    assert upload(
        api, "spiff_order.bpmn", "order.schema.json", "order.uischema.json"
    ).status_code in (200, 201)
    task = waiting_task(api, "spiff_order")
    other = env.client(create_token(env, "operator"))
    try:
        assert api.post(f"/api/tasks/{task['task_id']}/claim").status_code == 200
        taken = other.post(f"/api/tasks/{task['task_id']}/claim")
        assert taken.status_code == 409 and "claimed by local-cli" in taken.text
        refused = complete(other, task, {"amount": 5})
        assert refused.status_code == 409 and "claimed by local-cli" in refused.text
        mine = api.get("/api/tasks", params={"mine": "true"}).json()
        assert task["task_id"] in {t["task_id"] for t in mine}
        assert api.post(f"/api/tasks/{task['task_id']}/unclaim").status_code == 200
        assert complete(other, task, {"amount": 5}).status_code == 200
    finally:
        other.close()
    assert end_of(api, task["run_id"]) == "end_small"
    assert api.get(f"/api/tasks/{task['task_id']}").status_code == 404


def test_the_shipped_approval_has_a_form(api: httpx.Client) -> None:
    detail = api.get("/api/diagrams/migration").json()
    assert "approval.schema.json" in detail["xml"]


START_FORM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d_start"
                  targetNamespace="http://example.com/forms">
  <bpmn:process id="start_with_form" isExecutable="true">
    <bpmn:startEvent id="order_placed">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="amount" label="Amount" type="long">
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="order_placed" targetRef="big"/>
    <bpmn:exclusiveGateway id="big" default="f3"/>
    <bpmn:sequenceFlow id="f2" sourceRef="big" targetRef="end_big">
      <bpmn:conditionExpression>amount &gt; 100</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="big" targetRef="end_small"/>
    <bpmn:endEvent id="end_big"/>
    <bpmn:endEvent id="end_small"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_start_form_checks_the_data_a_run_starts_with(api: httpx.Client) -> None:
    files = {"file": ("start.bpmn", START_FORM, "application/xml")}
    assert api.post("/api/diagrams", files=files, params={"new_version": "true"}).status_code in (
        200,
        201,
    )
    form = api.get("/api/diagrams/start_with_form").json()["start_form"]
    assert form["element_id"] == "order_placed" and form["schema"]["required"] == ["amount"]
    start = {"text": "an order", "diagram": "start_with_form"}
    wrong = api.post("/api/runs", json={**start, "data": {"amount": "many"}})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "/amount"
    reserved = api.post("/api/runs", json={**start, "data": {"amount": 1, "request": "x"}})
    assert reserved.status_code == 422 and "request" in reserved.text
    started = api.post("/api/runs", json={**start, "data": {"amount": 500}})
    assert started.status_code == 201, started.text
    assert end_of(api, started.json()["id"]) == "end_big"


def test_tasks_meant_for_my_role(env: Environment, api: httpx.Client) -> None:
    """`for_my_role`: tasks whose lane or candidate groups name the caller's role, and tasks
    meant for anyone; the Camunda task (groups accounting, sales) is not an operator's."""
    assert upload(api, "camunda_order.bpmn").status_code in (200, 201)
    task = waiting_task(api, "camunda_order")
    operator = env.client(create_token(env, "operator"))
    try:
        mine = operator.get("/api/tasks", params={"for_my_role": "true", "limit": 500}).json()
        everyone = operator.get("/api/tasks", params={"limit": 500}).json()
    finally:
        operator.close()
    assert task["task_id"] in {t["task_id"] for t in everyone}
    assert task["task_id"] not in {t["task_id"] for t in mine}
    assert all(not t["groups"] and not t["lane"] or "operator" in t["groups"] for t in mine)
