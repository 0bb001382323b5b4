"""People's work from the CLI: start a deployed diagram, list the inbox, complete a task
(its form checked), approve and reject, cancel."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.servers import BIN, ROOT, Environment, wait_run

FORMS = Path(__file__).resolve().parents[1] / "fixtures" / "forms"
APPROVAL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="d_cli_approval" targetNamespace="http://example.com/cli">
  <bpmn:process id="cli_approval" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sign_off"/>
    <bpmn:userTask id="sign_off" name="Sign off">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="approval.schema.json"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="sign_off" targetRef="ok"/>
    <bpmn:exclusiveGateway id="ok" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="ok" targetRef="end_approved">
      <bpmn:conditionExpression>approved</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="ok" targetRef="end_rejected"/>
    <bpmn:endEvent id="end_approved"/>
    <bpmn:endEvent id="end_rejected"/>
  </bpmn:process>
</bpmn:definitions>
"""


def cli(env: Environment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "weavergen"), *args, "--server", env.url],
        env={**env.env, "WEAVERGEN_TOKEN": env.token},
        cwd=env.workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ends(api: httpx.Client, run_id: str) -> list[str]:
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run.get("error")
    return [s["element_id"] for s in run["steps"] if s["element_id"].startswith("end_")]


def test_start_list_and_complete_with_the_form_checked(env: Environment, api: httpx.Client) -> None:
    files = [("file", ("spiff_order.bpmn", (FORMS / "spiff_order.bpmn").read_bytes()))]
    files += [
        ("forms", (n, (FORMS / n).read_bytes()))
        for n in ("order.schema.json", "order.uischema.json")
    ]
    assert api.post("/api/diagrams", files=files, params={"new_version": "true"}).is_success
    started = cli(env, "start", "spiff_order", "--text", "from the CLI")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip().splitlines()[-1]
    assert f"/runs/{run_id}" in started.stderr
    wait_run(api, run_id, ("waiting",))
    listed = cli(env, "tasks", "--diagram", "spiff_order", "--json")
    assert run_id in listed.stdout
    wrong = cli(env, "complete", run_id, "enter_order", "--data", '{"amount": "lots"}')
    assert wrong.returncode != 0 and "/amount" in wrong.stderr
    bad_json = cli(env, "complete", run_id, "--data", "{amount: 1}")
    assert bad_json.returncode == 2 and "not JSON" in bad_json.stderr
    done = cli(env, "complete", run_id, "--data", '{"amount": 250}')
    assert done.returncode == 0, done.stderr
    assert ends(api, run_id) == ["end_big"]


def test_approve_reject_and_cancel(env: Environment, api: httpx.Client) -> None:
    schema = (ROOT / "bpmn" / "forms" / "approval.schema.json").read_bytes()
    files = [
        ("file", ("cli_approval.bpmn", APPROVAL.encode())),
        ("forms", ("approval.schema.json", schema)),
    ]
    assert api.post("/api/diagrams", files=files, params={"new_version": "true"}).is_success
    runs = [cli(env, "start", "cli_approval").stdout.strip().splitlines()[-1] for _ in range(3)]
    for run_id in runs:
        wait_run(api, run_id, ("waiting",))
    assert cli(env, "approve", runs[0], "--comment", "fine").returncode == 0
    assert cli(env, "reject", runs[1], "sign_off", "--comment", "no").returncode == 0
    assert ends(api, runs[0]) == ["end_approved"] and ends(api, runs[1]) == ["end_rejected"]
    cancelled = cli(env, "cancel", runs[2])
    assert cancelled.returncode == 0, cancelled.stderr
    assert api.get(f"/api/runs/{runs[2]}").json()["status"] == "cancelled"
    again = cli(env, "approve", runs[2])
    assert again.returncode != 0 and "0 tasks waiting" in again.stderr


def test_run_returns_when_a_person_is_needed_and_says_how_to_answer(
    env: Environment, api: httpx.Client
) -> None:
    text = "Migrate the users.email column to citext in the database schema"
    waiting = cli(env, "run", text, "--pattern", "migration")
    assert waiting.returncode == 5, waiting.stderr
    assert "waiting for a person: Approve migration (approve_migration)" in waiting.stderr
    run_id = waiting.stderr.split("/runs/")[1].split()[0]
    assert f"weavergen approve {run_id}" in waiting.stderr
    assert cli(env, "approve", run_id, "--comment", "looks right").returncode == 0
    assert wait_run(api, run_id)["status"] == "completed"
