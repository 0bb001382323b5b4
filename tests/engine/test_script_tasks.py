"""Script tasks run in the sandbox as jobs (scripts allowed by the admin): full Python, task
data in and out as JSON; a runaway script is stopped by a sandbox limit and the run shows
it as an incident naming the limit."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import Environment, wait_run

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs_{pid}" targetNamespace="http://example.com/scripts">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:scriptTask id="work" name="Work">
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="check"/>
    <bpmn:exclusiveGateway id="check" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="good">
      <bpmn:conditionExpression>total == 285</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="check" targetRef="bad"/>
    <bpmn:endEvent id="good"/>
    <bpmn:endEvent id="bad"/>
  </bpmn:process>
</bpmn:definitions>
"""


def run_script(api: httpx.Client, pid: str, script: str) -> dict:
    xml = DIAGRAM.format(pid=pid, script=script.replace("<", "&lt;"))
    upload = api.post("/api/diagrams", files={"file": (f"{pid}.bpmn", xml, "application/xml")})
    assert upload.status_code == 201, upload.text
    started = api.post("/api/runs", json={"text": f"script {pid}", "diagram": pid})
    assert started.status_code == 201, started.text
    return wait_run(api, started.json()["id"], timeout=60)


def test_full_python_script_sets_task_data_that_a_gateway_reads(scripts_api: httpx.Client) -> None:
    script = (
        "import math\n"
        "def square(x):\n    return x * x\n"
        "total = sum(square(i) for i in range(10))\n"
        "scratch = [1, 2]\ndel scratch\n"
        "print('computed', total)"
    )
    run = run_script(scripts_api, "script_sum", script)
    assert run["status"] == "completed", run.get("error") or run.get("incidents")
    [step] = [s for s in run["steps"] if s["element_id"] == "work"]
    assert step["kind"] == "ScriptTask" and step["operator"] == "script.run"
    data = step["result"]["data"]
    assert data["total"] == 285 and "scratch" not in data and "square" not in data
    assert "computed 285" in step["result"]["printed"]
    assert [s["element_id"] for s in run["steps"] if s["element_id"] in ("good", "bad")] == ["good"]


@pytest.mark.parametrize(
    ("pid", "script", "said"),
    [
        ("script_loop", "while True:\n    pass", "used more than 2 s of CPU"),
        ("script_memory", "big = 'x' * (4 * 1024 ** 3)", "used more than 256 MB of memory"),
        (
            "script_socket",
            # the WeaverGen server listens on this port of the host's loopback
            "import socket\nsocket.create_connection(('127.0.0.1', PORT), timeout=2)",
            "ConnectionRefusedError",
        ),
        (
            "script_dns",
            "import urllib.request\nurllib.request.urlopen('http://pypi.org', timeout=2)",
            "scripts run without network",
        ),
    ],
)
def test_runaway_script_is_stopped_and_shown_as_an_incident(
    scripts_env: Environment, scripts_api: httpx.Client, pid: str, script: str, said: str
) -> None:
    run = run_script(scripts_api, pid, script.replace("PORT", str(scripts_env.port)))
    assert run["status"] == "incident", run
    [incident] = [i for i in run["incidents"] if i["element_id"] == "work"]
    assert said in incident["message"] and incident["message"].startswith("script task work")


def test_scripts_are_refused_at_upload_unless_the_admin_allows_them(api: httpx.Client) -> None:
    xml = DIAGRAM.format(pid="script_refused", script="total = 285")
    upload = api.post("/api/diagrams", files={"file": ("s.bpmn", xml, "application/xml")})
    assert upload.status_code == 422
    [error] = upload.json()["errors"]
    assert error["element_id"] == "work" and "WEAVERGEN_ALLOW_SCRIPTS=true" in error["message"]
