"""A diagram's versions: compared element by element, retired when no unfinished run pins
them; new runs pin the newest version that is not retired."""

from __future__ import annotations

import subprocess

import httpx

from tests.api.test_sessions import csrf_of, sign_in
from tests.servers import BIN, Environment, wait_run

V1 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_life"
                  targetNamespace="http://example.com/lifecycle">
  <bpmn:process id="lifecycle_demo" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
V2 = (
    V1.replace('name="Approve"', 'name="Approve the plan"')
    .replace('targetRef="end"/>', 'targetRef="note"/>\n    <bpmn:manualTask id="note"/>', 1)
    .replace(
        '<bpmn:endEvent id="end"/>',
        '<bpmn:sequenceFlow id="f3" sourceRef="note" '
        'targetRef="done"/>\n    <bpmn:endEvent id="done"/>',
    )
)


def upload(api: httpx.Client, xml: str, *, new_version: bool) -> dict:
    answer = api.post(
        "/api/diagrams",
        params={"new_version": str(new_version).lower()},
        files={"file": ("lifecycle_demo.bpmn", xml, "application/xml")},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def start(api: httpx.Client) -> httpx.Response:
    return api.post("/api/runs", json={"text": "lifecycle", "diagram": "lifecycle_demo"})


def test_versions_compare_and_retire(env: Environment, api: httpx.Client) -> None:
    first = upload(api, V1, new_version=False)["version"]
    second = upload(api, V2, new_version=True)["version"]
    diff = api.get(
        "/api/diagrams/lifecycle_demo/compare", params={"base": first, "head": second}
    ).json()
    assert {e["id"] for e in diff["added"]} == {"note", "f3", "done"}
    assert {e["id"] for e in diff["removed"]} == {"end"}
    changed = {e["id"]: e["what"] for e in diff["changed"]}
    assert changed == {"approve": ["name"], "f2": ["targetRef"]}
    shown = subprocess.run(
        [
            str(BIN / "weavergen"),
            "diagrams",
            "compare",
            "lifecycle_demo",
            str(first),
            str(second),
            "--server",
            env.url,
            "--token",
            env.token,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "+ manualTask note" in shown.stdout and "~ userTask approve: name" in shown.stdout

    run = start(api).json()  # pins version 2 and waits for a person
    waiting = wait_run(api, run["id"], ("waiting",))
    retire = f"/api/diagrams/lifecycle_demo/versions/{second}/retire"
    refused = api.post(retire)
    assert refused.status_code == 409 and run["id"] in refused.text, refused.text
    assert api.post(f"/api/diagrams/lifecycle_demo/versions/{first}/retire").status_code == 200

    for element in ("approve", "note"):  # a person finishes the run
        [task] = [s for s in waiting["steps"] if s["state"] == "ready"]
        assert task["element_id"] == element
        path = f"/api/runs/{run['id']}/tasks/{task['task_id']}/complete"
        assert api.post(path, json={"data": {}}).status_code == 200
        waiting = wait_run(api, run["id"], ("waiting", "completed"))
    assert waiting["status"] == "completed"
    assert api.post(retire).status_code == 200
    listed = {d["id"]: d for d in api.get("/api/diagrams").json()}["lifecycle_demo"]
    assert all(v["retired_at"] for v in listed["versions"])
    again = start(api)
    assert again.status_code == 409 and "every version" in again.text, again.text
    third = upload(api, V1.replace("Approve", "Approve again"), new_version=True)["version"]
    assert start(api).status_code == 201 and third == second + 1


def test_a_shipped_patterns_only_version_is_not_retired(api: httpx.Client) -> None:
    [migration] = [d for d in api.get("/api/diagrams").json() if d["id"] == "migration"]
    [only] = migration["versions"]  # no test uploads migration versions
    answer = api.post(f"/api/diagrams/migration/versions/{only['version']}/retire")
    assert answer.status_code == 409 and "shipped pattern" in answer.text


def test_versions_page_compares_and_retires(env: Environment, api: httpx.Client) -> None:
    xml = V1.replace("lifecycle_demo", "lifecycle_page")
    for content, flag in ((xml, False), (xml.replace('name="Approve"', 'name="Sign"'), True)):
        answer = api.post(
            "/api/diagrams",
            params={"new_version": str(flag).lower()},
            files={"file": ("lifecycle_page.bpmn", content, "application/xml")},
        )
        assert answer.status_code == 201, answer.text
    browser = sign_in(env, env.token)
    try:
        page = browser.get("/diagrams/lifecycle_page/versions")
        assert page.status_code == 200
        assert '<tr class="changed"><td>changed</td><td>approve</td>' in page.text
        retired = browser.post(
            "/diagrams/lifecycle_page/versions/1/retire", data={"csrf": csrf_of(page.text)}
        )
        assert retired.status_code == 303
        page = browser.get("/diagrams/lifecycle_page/versions")
        assert page.text.count('<span class="badge">retired</span>') == 1
        unsigned = browser.post("/diagrams/lifecycle_page/versions/2/retire", data={})
        assert unsigned.status_code == 403, "a form without the CSRF token is refused"
    finally:
        browser.close()
