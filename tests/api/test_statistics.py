"""Per-element statistics of a diagram across runs (`GET /api/diagrams/{id}/statistics`):
recorded when runs finish, counted like the run database counts them, from PostgreSQL and
from InfluxDB."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import start_run
from tests.api.test_auth import create_token
from tests.api.test_learning import rows, wait_rows
from tests.servers import Cluster, Environment, Standin, make_environment, wait_run

BROKEN_FIRST = "Write a function add(a, b) that returns their sum BROKEN-FIRST"
PLAIN = "Write a function add(a, b) that returns their sum"

# every step of a finished run that pinned this version of `quick`, per element, as the run
# database has them: (visits, distinct runs)
DB_COUNTS = """
SELECT s.element_id, count(*), count(DISTINCT s.run_id)
FROM steps s JOIN runs r ON r.id = s.run_id
WHERE r.status IN ('completed', 'failed') AND s.process_id = 'quick'
  AND r.spec_versions ->> 'quick' = %s AND s.kind NOT LIKE '%%MultiInstanceTask'
  AND r.finished_at >= now() - interval '7 days'
GROUP BY s.element_id
"""
DB_ACTIVE = """
SELECT s.element_id, count(*),
  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incidents i
                                 WHERE i.task_id = s.task_id AND i.status = 'open'))
FROM steps s JOIN runs r ON r.id = s.run_id
WHERE r.status IN ('running', 'waiting', 'incident') AND s.process_id = 'quick'
  AND r.spec_versions ->> 'quick' = %s AND s.state IN ('ready', 'started', 'waiting')
GROUP BY s.element_id
"""


def latest_quick(api: httpx.Client) -> tuple[int, int]:
    """(version number, version id) of the newest version of `quick`."""
    newest = max(api.get("/api/diagrams/quick").json()["versions"], key=lambda v: v["version"])
    return newest["version"], newest["version_id"]


def statistics(api: httpx.Client, diagram: str = "quick", **params: Any) -> dict[str, Any]:
    resp = api.get(f"/api/diagrams/{diagram}/statistics", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def by_element(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["element_id"]: e for e in answer["elements"]}


def wait_counts_match(env: Environment, api: httpx.Client, version: int, version_id: int) -> None:
    """Until every finished run is recorded: visits and runs per element as in `steps`."""
    deadline = time.monotonic() + 20
    while True:
        expected = {e: (n, r) for e, n, r in rows(env, DB_COUNTS, str(version_id))}
        shown = {
            e["element_id"]: (e["visits"], e["runs"])
            for e in statistics(api, version=version)["elements"]
            if e["visits"]
        }
        if shown == expected or time.monotonic() > deadline:
            assert shown == expected
            return
        time.sleep(0.3)


def test_counts_per_element_match_the_run_database(env: Environment, api: httpx.Client) -> None:
    version, version_id = latest_quick(api)
    looped = start_run(api, BROKEN_FIRST, "quick")
    plain = start_run(api, PLAIN, "quick")
    assert wait_run(api, looped)["status"] == "completed"
    assert wait_run(api, plain)["status"] == "completed"
    wait_rows(env, "SELECT 1 FROM learning_visits WHERE run_id = %s", plain)
    wait_rows(env, "SELECT 1 FROM learning_visits WHERE run_id = %s", looped)
    wait_counts_match(env, api, version, version_id)

    # the looped run: validate twice, the gateway took `improve` and then `accept`
    visits = rows(
        env,
        "SELECT element_id, kind, outcome, diagram_version, tokens_in, model_ms "
        "FROM learning_visits WHERE run_id = %s ORDER BY at, id",
        looped,
    )
    assert [v[0] for v in visits].count("validate") == 2
    assert all(v[2] == "completed" and v[3] == version for v in visits)
    implement = next(v for v in visits if v[0] == "implement")
    assert implement[1] == "ServiceTask" and implement[4] > 0 and implement[5] > 0
    flows = rows(
        env, "SELECT gateway, flow FROM learning_flows WHERE run_id = %s ORDER BY at, id", looped
    )
    assert flows == [
        ("how_to_generate", "flow_how_to_generate_to_implement"),
        ("next_step", "flow_next_step_to_recall"),
        ("next_step", "flow_next_step_to_accept"),
    ]

    answer = statistics(api, version=version)
    assert answer["backend"] == "postgres" and answer["unavailable"] is None
    assert answer["version"] == version and answer["diagram_id"] == "quick"
    elements = by_element(answer)
    validate = elements["validate"]
    assert validate["completed"] + validate["failed"] + validate["cancelled"] == validate["visits"]
    assert 0 < validate["mean_ms"] <= validate["p95_ms"]
    assert elements["implement"]["tokens_in"] > 0 and elements["implement"]["model_ms"] > 0
    # each visit of an exclusive gateway took exactly one of its flows
    for gateway in ("how_to_generate", "next_step"):
        taken = sum(f["taken"] for f in answer["flows"] if f["gateway"] == gateway)
        assert taken == elements[gateway]["visits"], (gateway, answer["flows"])
    # every version together has at least these
    every = by_element(statistics(api))
    assert every["validate"]["visits"] >= validate["visits"]


def test_open_steps_and_incidents_then_the_incident_counts(
    env: Environment, api: httpx.Client, standin: Standin
) -> None:
    version, version_id = latest_quick(api)
    standin.configure(fail_rate=1.0)
    try:
        run_id = start_run(api, PLAIN, "quick")
        run = wait_run(api, run_id, ("incident",))
    finally:
        standin.configure(fail_rate=0.0)
    elements = by_element(statistics(api, version=version))
    active = {e: (n, stuck) for e, n, stuck in rows(env, DB_ACTIVE, str(version_id))}
    assert active["implement"][1] >= 1
    shown = {e: (s["active"], s["open_incidents"]) for e, s in elements.items() if s["active"]}
    assert shown == active

    [incident] = run["incidents"]
    api.post(f"/api/incidents/{incident['id']}/retry").raise_for_status()
    assert wait_run(api, run_id)["status"] == "completed"
    [(incidents, outcome)] = wait_rows(
        env,
        "SELECT incidents, outcome FROM learning_visits "
        "WHERE run_id = %s AND element_id = 'implement'",
        run_id,
    )
    assert (incidents, outcome) == (1, "completed")
    implement = by_element(statistics(api, version=version))["implement"]
    assert implement["incidents"] >= 1 and implement["failures"] >= 1
    assert 0 < implement["failure_rate"] <= 1


def test_window_version_roles_and_bad_requests(env: Environment, api: httpx.Client) -> None:
    version, _ = latest_quick(api)
    viewer = env.client(create_token(env, "viewer"))
    try:
        answer = viewer.get("/api/diagrams/quick/statistics", params={"hours": 1}).json()
    finally:
        viewer.close()
    assert answer["version"] is None
    window = (answer["until"], answer["since"])
    assert window[0] > window[1]
    assert httpx.get(f"{env.url}/api/diagrams/quick/statistics").status_code == 401

    for path, params, status in [
        ("nope_" + uuid.uuid4().hex[:8], {}, 404),
        ("quick", {"version": version + 1000}, 404),
        ("quick", {"hours": 0}, 422),
        ("quick", {"hours": 24 * 367}, 422),
        ("quick", {"version": 0}, 422),
        ("bad%20id", {}, 422),
    ]:
        resp = api.get(f"/api/diagrams/{path}/statistics", params=params)
        assert resp.status_code == status, (path, params, resp.text)
    assert "does not exist" in api.get("/api/diagrams/nope_x/statistics").json()["detail"]


@pytest.fixture(scope="module")
def influx_env(
    cluster: Cluster, standin: Standin, workroot: Path, influx_server: Any
) -> Iterator[Environment]:
    env = make_environment(cluster, standin, "statistics_influx", workroot)
    database = f"stats_{uuid.uuid4().hex[:8]}"
    env.env.update({"INFLUX_URL": influx_server.url, "INFLUX_DATABASE": database})
    env.start_server(workers=1)
    yield env
    env.stop()


def test_statistics_come_from_influxdb_when_it_is_the_outcome_store(
    influx_env: Environment,
) -> None:
    with influx_env.client() as api:
        version, version_id = latest_quick(api)
        run_id = start_run(api, BROKEN_FIRST, "quick")
        assert wait_run(api, run_id)["status"] == "completed"
        wait_counts_match(influx_env, api, version, version_id)
        answer = statistics(api, version=version)
        assert answer["backend"] == "influxdb"
        elements = by_element(answer)
        assert elements["validate"]["visits"] == 2 and elements["validate"]["runs"] == 1
        assert {(f["gateway"], f["flow"], f["taken"]) for f in answer["flows"]} == {
            ("how_to_generate", "flow_how_to_generate_to_implement", 1),
            ("next_step", "flow_next_step_to_recall", 1),
            ("next_step", "flow_next_step_to_accept", 1),
        }


SUBPROCESS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="outer" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f_s" sourceRef="s" targetRef="wait"/>
    <bpmn:eventBasedGateway id="wait"/>
    <bpmn:sequenceFlow id="f_msg" sourceRef="wait" targetRef="message"/>
    <bpmn:sequenceFlow id="f_timer" sourceRef="wait" targetRef="timer"/>
    <bpmn:intermediateCatchEvent id="message"/>
    <bpmn:intermediateCatchEvent id="timer"/>
    <bpmn:sequenceFlow id="f_m" sourceRef="message" targetRef="sub"/>
    <bpmn:subProcess id="sub">
      <bpmn:startEvent id="ss"/>
      <bpmn:sequenceFlow id="f_ss" sourceRef="ss" targetRef="fork"/>
      <bpmn:parallelGateway id="fork"/>
      <bpmn:sequenceFlow id="f_a" sourceRef="fork" targetRef="a"/>
      <bpmn:sequenceFlow id="f_b" sourceRef="fork" targetRef="b"/>
      <bpmn:task id="a"/>
      <bpmn:task id="b"/>
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>
"""


def test_visits_and_flows_from_the_steps_of_a_run() -> None:
    from datetime import UTC, datetime, timedelta

    from engine.learning.visits import element_visits, pinned_diagram

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ms = timedelta(milliseconds=1)
    diagram = pinned_diagram("outer", 3, SUBPROCESS_XML, ["sub"])
    assert diagram.processes == {"outer", "sub"}
    assert diagram.outgoing["wait"] == (("f_msg", "message"), ("f_timer", "timer"))

    def step(element: str, process: str, kind: str, state: str, start: int, end: int | None):
        return {
            "task_id": f"t-{element}-{start}",
            "element_id": element,
            "process_id": process,
            "kind": kind,
            "state": state,
            "started_at": t0 + start * ms,
            "finished_at": None if end is None else t0 + end * ms,
            "tokens_in": 0,
            "tokens_out": 0,
            "duration_ms": None,
        }

    steps = [
        step("s", "outer", "StartEvent", "completed", 0, 0),
        step("wait", "outer", "EventBasedGateway", "completed", 0, 5),
        step("message", "outer", "IntermediateCatchEvent", "completed", 5, 20),
        step("timer", "outer", "IntermediateCatchEvent", "cancelled", 5, 20),  # not taken
        step("sub", "outer", "SubWorkflowTask", "started", 20, None),
        step("ss", "sub", "StartEvent", "completed", 20, 20),
        step("fork", "sub", "ParallelGateway", "completed", 20, 20),
        step("a", "sub", "Task", "completed", 20, 30),
        step("b", "sub", "Task", "ready", 20, None),  # open when the run failed
        step("m", "sub", "ParallelMultiInstanceTask", "completed", 30, 40),  # left out
        step("x", "other", "Task", "completed", 0, 1),  # a process the run did not pin
    ]
    run = {"id": "run-1", "status": "failed", "finished_at": t0 + 50 * ms}
    visits, flows = element_visits(run, steps, {"t-a-20": 2}, [diagram])
    got = {(v.element_id, v.outcome, v.duration_ms, v.incidents) for v in visits}
    assert got == {
        ("s", "completed", 0.0, 0),
        ("wait", "completed", 5.0, 0),
        ("message", "completed", 15.0, 0),
        ("timer", "cancelled", 15.0, 0),
        ("sub", "failed", 30.0, 0),
        ("ss", "completed", 0.0, 0),
        ("fork", "completed", 0.0, 0),
        ("a", "completed", 10.0, 2),
        ("b", "failed", 30.0, 0),
    }
    assert {(v.diagram_id, v.diagram_version) for v in visits} == {("outer", 3)}
    assert sorted((f.gateway, f.flow) for f in flows) == [
        ("fork", "f_a"),
        ("fork", "f_b"),
        ("wait", "f_msg"),
    ]
    # the same open step in a run that completed was cancelled
    visits, _ = element_visits({**run, "status": "completed"}, steps, {}, [diagram])
    assert next(v for v in visits if v.element_id == "b").outcome == "cancelled"
