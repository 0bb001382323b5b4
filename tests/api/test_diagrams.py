"""Uploading diagrams: bad ones are rejected with file, element id, line and reason."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, wait_run

QUICK = (ROOT / "bpmn" / "quick.bpmn").read_text()

XXE = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">&xxe;</bpmn:definitions>
"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">&lol3;</bpmn:definitions>
"""


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def upload(
    api: httpx.Client, name: str, content: str, *, new_version: bool = False
) -> httpx.Response:
    params = {"new_version": "true"} if new_version else {}
    return api.post("/api/diagrams", files={"file": (name, content.encode())}, params=params)


def rejected(api: httpx.Client, name: str, content: str) -> list[dict]:
    resp = upload(api, name, content)
    assert resp.status_code == 422, resp.text
    errors = resp.json()["errors"]
    assert errors and all(e["file"] == name for e in errors)
    assert api.get("/health").status_code == 200
    return errors


def test_malformed_xml(api: httpx.Client) -> None:
    [err] = rejected(api, "broken.bpmn", QUICK.replace("</bpmn:process>", "", 1))
    assert "malformed XML" in err["message"] and err["line"] > 1


@pytest.mark.parametrize("content", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_doctype_and_entities_refused(api: httpx.Client, content: str) -> None:
    [err] = rejected(api, "evil.bpmn", content)
    assert "DOCTYPE" in err["message"]
    assert "root:" not in err["message"]


def test_unknown_operator(api: httpx.Client) -> None:
    bad = QUICK.replace('id="validate.code"', 'id="validate.nope"', 1)
    [err] = rejected(api, "quick.bpmn", bad)
    assert err["element_id"] == "validate"
    assert "unknown operator 'validate.nope'" in err["message"]
    assert err["line"] == line_of(bad, 'id="validate.nope"')


def test_condition_with_syntax_error(api: httpx.Client) -> None:
    bad = QUICK.replace("next['choice'] == 'improve'", "next['choice'] === 'improve'", 1)
    [err] = rejected(api, "quick.bpmn", bad)
    assert "syntax error" in err["message"]
    assert err["element_id"].startswith("flow_")
    assert err["line"] == line_of(bad, "===")


def test_script_importing_os(api: httpx.Client) -> None:
    script = (
        '<bpmn:scriptTask id="evil" name="Evil"><bpmn:script>import os\nos.system("id")'
        "</bpmn:script></bpmn:scriptTask>"
    )
    bad = QUICK.replace("</bpmn:process>", script + "</bpmn:process>", 1)
    errors = rejected(api, "quick.bpmn", bad)
    evil = [e for e in errors if e["element_id"] == "evil"]
    assert evil and evil[0]["line"] == line_of(bad, "<bpmn:script>")


def test_schema_violation_names_line(api: httpx.Client) -> None:
    bad = QUICK.replace(
        "<spiffworkflow:parameters>", "<spiffworkflow:nonsense/><spiffworkflow:parameters>", 1
    )
    [err] = rejected(api, "quick.bpmn", bad)
    assert err["line"] == line_of(bad, "<spiffworkflow:nonsense/>")
    assert err["element_id"] == "remember" and "spiffworkflow:nonsense" in err["message"]


def test_good_upload_versions_and_dedupes(api: httpx.Client) -> None:
    renamed = QUICK.replace('name="Implement with tests"', 'name="Implement, then test"', 1)
    clash = upload(api, "my-quick.bpmn", renamed)  # the shipped pattern is not replaced by accident
    assert clash.status_code == 409, clash.text
    assert "diagram 'quick' exists" in clash.text and "new_version=true" in clash.text
    first = upload(api, "quick.bpmn", renamed, new_version=True)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True and first.json()["version"] >= 2
    again = upload(api, "quick.bpmn", renamed)  # the same content: no new version, no clash
    assert again.json()["created"] is False and again.json()["version"] == first.json()["version"]
    listed = {d["id"]: d for d in api.get("/api/diagrams").json()}
    assert {"orchestrate", "quick", "standard", "bug_fix", "migration"} <= set(listed)
    detail = api.get("/api/diagrams/quick").json()
    assert "Implement, then test" in detail["xml"]


def test_upload_needs_bpmn_extension(api: httpx.Client, tmp_path: Path) -> None:
    resp = upload(api, "notes.txt", QUICK)
    assert resp.status_code == 422


def test_comments_are_fine_and_a_missing_process_id_is_named(api: httpx.Client) -> None:
    commented = QUICK.replace("<bpmn:process", "<!-- a comment --><bpmn:process", 1)
    assert upload(api, "quick.bpmn", commented, new_version=True).status_code in (200, 201)
    no_id = QUICK.replace('<bpmn:process id="quick"', "<bpmn:process", 1)
    [err] = rejected(api, "quick.bpmn", no_id)
    assert "needs an id" in err["message"]


def test_call_cycles_are_refused_at_run_start(api: httpx.Client) -> None:
    def caller(pid: str, callee: str) -> str:
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_{pid}"
    targetNamespace="http://weavergen.dev/tests">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="c" />
    <bpmn:callActivity id="c" calledElement="{callee}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>
    <bpmn:sequenceFlow id="f2" sourceRef="c" targetRef="e" />
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""

    for pid, callee in (("loop_a", "loop_b"), ("loop_b", "loop_c"), ("loop_c", "loop_b")):
        assert upload(api, f"{pid}.bpmn", caller(pid, callee)).status_code == 201
    resp = api.post("/api/runs", json={"text": "x", "pattern": "loop_a"})
    assert resp.status_code == 422
    assert "cycle" in resp.json()["errors"][0]["message"]
    assert api.get("/health").status_code == 200


def test_bad_request_files_are_422(api: httpx.Client) -> None:
    for files in ({"../escape.py": "x"}, {"/abs.py": "x"}, {"a.py": "x" * 300_000}):
        resp = api.post("/api/runs", json={"text": "x", "pattern": "quick", "files": files})
        assert resp.status_code == 422, files


PROCESS_1 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d1"
                  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="Process_1" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>Flow_1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_diagram_drawn_elsewhere_starts_by_its_id(api: httpx.Client) -> None:
    """bpmn.io names its first process `Process_1`: the same id rule at upload and start."""
    assert upload(api, "drawn.bpmn", PROCESS_1).status_code in (200, 201)
    body = {"text": "run the drawn diagram", "diagram": "Process_1"}
    resp = api.post("/api/runs", json=body)
    assert resp.status_code == 201, resp.text
    run = wait_run(api, resp.json()["id"])
    assert run["status"] == "completed", run
    both = api.post("/api/runs", json={**body, "pattern": "quick"})
    assert both.status_code == 422 and "not both" in both.text
    bad = api.post("/api/runs", json={**body, "diagram": "1-not-an-id"})
    assert bad.status_code == 422


def test_timer_expression_escape_is_refused_at_upload(api: httpx.Client) -> None:
    duration = '__import__("os").system("true") or "PT1S"'
    timer = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_timer"
                  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="timer_escape" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait_a_bit">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="timer_def">
        <bpmn:timeDuration>{duration}</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_a_bit" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait_a_bit" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
    [err] = rejected(api, "timer.bpmn", timer)
    assert err["element_id"] in ("timer_def", "wait_a_bit"), err
    assert err["line"] == line_of(timer, "<bpmn:timeDuration>")
    assert "timer timeDuration" in err["message"] and "__import__" in err["message"]


CAMUNDA = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d_camunda"
                  targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler">
  <bpmn:process id="Process_camunda" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="Task_charge" camunda:class="com.example.Charge">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="Gateway_big" default="f4">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:serviceTask id="Task_review" camunda:class="com.example.Review">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="EndEvent_1">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Task_charge" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_charge" targetRef="Gateway_big" />
    <bpmn:sequenceFlow id="f3" sourceRef="Gateway_big" targetRef="Task_review">
      <bpmn:conditionExpression>${amount > 1000}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="Gateway_big" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="f5" sourceRef="Task_review" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_camunda_diagram_gets_every_error_with_its_hint(api: httpx.Client) -> None:
    errors = rejected(api, "camunda.bpmn", CAMUNDA)
    by_element = {e["element_id"]: e for e in errors}
    assert set(by_element) == {"Task_charge", "Task_review", "f3"}, errors
    for task in ("Task_charge", "Task_review"):
        message = by_element[task]["message"]
        assert 'camunda:class="com.example.' in message and "bind an operator" in message
        assert "llm.generate" in message  # the operators to choose from
        assert by_element[task]["line"] == line_of(CAMUNDA, f'id="{task}"')
    assert "Python expressions over task data" in by_element["f3"]["message"]
    assert "amount > 1000" in by_element["f3"]["message"]


def test_process_without_is_executable_counts_as_executable(api: httpx.Client) -> None:
    """SpiffWorkflow's rule: only isExecutable="false" makes a process not executable."""
    plain = PROCESS_1.replace(' isExecutable="true"', "").replace("Process_1", "Process_plain")
    assert upload(api, "plain.bpmn", plain).status_code in (200, 201)
    none = PROCESS_1.replace('isExecutable="true"', 'isExecutable="false"')
    [err] = rejected(api, "none.bpmn", none)
    assert 'set isExecutable="true"' in err["message"]
