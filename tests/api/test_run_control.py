"""Run control: cancel (late job results dropped), variables read by viewers and edited by
admins (recorded), a failed run retried from the step that failed."""

from __future__ import annotations

import time

import httpx

from tests.api.helpers import start_run
from tests.api.test_auth import create_token
from tests.servers import Environment, Standin, wait_run

CHECK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_check"
                  targetNamespace="http://example.com/control">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <bpmn:userTask id="check" name="Check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="flagged"/>
    <bpmn:exclusiveGateway id="flagged" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="flagged" targetRef="end_yes">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="flagged" targetRef="end_no"/>
    <bpmn:endEvent id="end_yes"/>
    <bpmn:endEvent id="end_no"/>
  </bpmn:process>
</bpmn:definitions>
"""


def waiting_run(api: httpx.Client, pid: str, condition: str) -> tuple[str, dict]:
    xml = CHECK.format(pid=pid, condition=condition)
    files = {"file": (f"{pid}.bpmn", xml, "application/xml")}
    assert api.post("/api/diagrams", files=files, params={"new_version": "true"}).status_code in (
        200,
        201,
    )
    run_id = api.post("/api/runs", json={"text": "control", "diagram": pid}).json()["id"]
    run = wait_run(api, run_id, ("waiting",))
    [task] = [s for s in run["steps"] if s["state"] == "ready"]
    return run_id, task


def ends(api: httpx.Client, run_id: str) -> list[str]:
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run.get("error")
    return [s["element_id"] for s in run["steps"] if s["element_id"].startswith("end_")]


def test_cancel_ends_the_run_and_its_steps(api: httpx.Client) -> None:
    run_id, task = waiting_run(api, "control_cancel", "flag")
    assert api.post(f"/api/runs/{run_id}/cancel").json()["status"] == "cancelled"
    run = api.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "cancelled" and run["finished_at"]
    assert {s["element_id"]: s["state"] for s in run["steps"]}["check"] == "cancelled"
    again = api.post(f"/api/runs/{run_id}/cancel")
    assert again.status_code == 409 and "finished" in again.text
    late = api.post(f"/api/runs/{run_id}/tasks/{task['task_id']}/complete", json={"data": {}})
    assert late.status_code == 409
    assert api.get("/api/tasks", params={"run_id": run_id}).json() == []


def test_a_job_result_after_cancel_is_dropped(api: httpx.Client, standin: Standin) -> None:
    standin.configure(latency_ms=3000)
    try:
        run_id = start_run(api, "Write a function add(a, b) that returns their sum", "quick")
        for _ in range(100):  # bounded: 20 s for the first model call to be under way
            run = api.get(f"/api/runs/{run_id}").json()
            if any(s["state"] == "started" and s["operator"] for s in run["steps"]):
                break
            time.sleep(0.2)
        assert api.post(f"/api/runs/{run_id}/cancel").status_code == 200
        time.sleep(4)  # the model answers meanwhile; its result must not apply
    finally:
        standin.configure(latency_ms=0)
    run = api.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "cancelled"
    assert not any(s["state"] == "completed" and s["operator"] for s in run["steps"]), run["steps"]
    events = api.get(f"/api/runs/{run_id}/events").json()
    assert events[-1]["event"] == "run.cancelled" or any(e["event"] == "cancelled" for e in events)


def test_variables_are_read_by_viewers_and_edited_by_admins(
    env: Environment, api: httpx.Client
) -> None:
    run_id, task = waiting_run(api, "control_vars", "flag == True")
    viewer = env.client(create_token(env, "viewer"))
    operator = env.client(create_token(env, "operator"))
    try:
        seen = viewer.get(f"/api/runs/{run_id}/variables").json()
        assert seen["at"] == ["check"] and seen["variables"]["request"]["text"] == "control"
        assert (
            operator.patch(
                f"/api/runs/{run_id}/variables", json={"set": {"flag": True}}
            ).status_code
            == 403
        )
    finally:
        viewer.close()
        operator.close()
    reserved = api.patch(f"/api/runs/{run_id}/variables", json={"set": {"request": {}}})
    assert reserved.status_code == 422 and "request" in reserved.text
    edited = api.patch(f"/api/runs/{run_id}/variables", json={"set": {"flag": True}})
    assert edited.status_code == 200 and edited.json()["at"] == ["check"]
    events = api.get(f"/api/runs/{run_id}/events").json()
    [edit] = [e for e in events if e["event"] == "variables_edited"]
    assert edit["detail"] == {"by": "local-cli", "set": {"flag": True}, "delete": []}
    assert edit["at"]
    path = f"/api/runs/{run_id}/tasks/{task['task_id']}/complete"
    assert api.post(path, json={"data": {}}).status_code == 200
    assert ends(api, run_id) == ["end_yes"]


def test_a_failed_run_is_retried_from_the_step_that_failed(api: httpx.Client) -> None:
    run_id, task = waiting_run(api, "control_retry", "score > 5")
    path = f"/api/runs/{run_id}/tasks/{task['task_id']}/complete"
    assert api.post(path, json={"data": {}}).status_code == 200
    failed = wait_run(api, run_id)
    assert failed["status"] == "failed" and "flagged" in failed["error"]
    unfixed = api.post(f"/api/runs/{run_id}/retry")
    assert unfixed.status_code == 200 and unfixed.json()["retried_from"] == ["flagged"]
    assert wait_run(api, run_id)["status"] == "failed", "the same data fails the same way"
    fixed = api.post(f"/api/runs/{run_id}/retry", json={"set": {"score": 9}})
    assert fixed.status_code == 200
    assert ends(api, run_id) == ["end_yes"]
    assert api.post(f"/api/runs/{run_id}/retry").status_code == 409


def test_a_finished_runs_variables_are_the_data_it_ended_with(api: httpx.Client) -> None:
    run_id, task = waiting_run(api, "control_done", "flag")
    path = f"/api/runs/{run_id}/tasks/{task['task_id']}/complete"
    assert api.post(path, json={"data": {"flag": True, "note": "seen"}}).status_code == 200
    assert ends(api, run_id) == ["end_yes"]
    seen = api.get(f"/api/runs/{run_id}/variables").json()
    assert seen["status"] == "completed" and seen["at"] == []
    assert seen["variables"]["note"] == "seen" and seen["variables"]["check"]["flag"] is True
