"""Outcome-aware model routing and the learned failure policy in real runs: a step that names
several model groups gets one chosen by the router, with its evidence on the run; validation
teaches the router; when the chosen group is down, the failure policy (here pinned to a DMN
table) switches to another group and the run completes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from engine.policies.dmn import Rule, table_xml
from tests.servers import Cluster, Environment, Standin, make_environment, wait_run

DIAGRAM = (Path(__file__).parents[1] / "fixtures" / "routed.bpmn").read_text()


@pytest.fixture(scope="module")
def routing_env(cluster: Cluster, standin: Standin, workroot: Path) -> Iterator[Environment]:
    """A server of its own: the pins these tests set must not reach other tests' runs."""
    e = make_environment(cluster, standin, "routing", workroot)
    e.env["WEAVERGEN_MAX_ATTEMPTS"] = "5"  # room for a group to go down (3 failures in a row)
    e.start_server(workers=1)
    yield e
    e.stop()


@pytest.fixture()
def rapi(routing_env: Environment) -> Iterator[httpx.Client]:
    with routing_env.client() as c:
        resp = c.post("/api/diagrams", files={"file": ("routed.bpmn", DIAGRAM.encode())})
        assert resp.status_code in (200, 201), resp.text
        yield c


def rows(env: Environment, query: str, *params: Any) -> list[tuple[Any, ...]]:
    url = env.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def start(api: httpx.Client, text: str, **options: Any) -> dict[str, Any]:
    resp = api.post(
        "/api/runs",
        json={"text": text, "language": "python", "diagram": "routed", "options": options},
    )
    assert resp.status_code == 201, resp.text
    return wait_run(api, str(resp.json()["id"]))


def test_the_router_chooses_a_group_and_learns_from_validation(
    rapi: httpx.Client, routing_env: Environment
) -> None:
    run = start(rapi, "Write a function add(a, b) that returns their sum", prefer="speed")
    assert run["status"] == "completed", run
    [(choice, context, evidence)] = rows(
        routing_env,
        "SELECT choice, context, evidence FROM policy_decisions "
        "WHERE run_id = %s AND policy = 'route'",
        run["id"],
    )
    # exploration is off in the test servers: the diagram's group starts ahead
    assert choice == "coder-b"
    assert context == {
        "element": "implement",
        "task_type": context["task_type"],
        "language": "python",
        "group": "coder-b",
        "prefer": "speed",
    }
    assert evidence["prefer"] == "speed" and evidence["candidates"] == ["coder-b", "coder"]
    assert set(evidence["estimates"]) == {"coder-b", "coder"}
    assert evidence["estimates"]["coder-b"]["prior"] == 1.0
    assert evidence["stores"]["outcomes"]["asked"].startswith("policy_stats(route")
    implement = next(s for s in run["steps"] if s["element_id"] == "implement")
    assert implement["result"]["route"]["group"] == "coder-b"
    learned = rows(
        routing_env,
        "SELECT choice, success, element FROM learning_policy_outcomes WHERE run_id = %s",
        run["id"],
    )
    assert learned == [("coder-b", True, "implement")]


def pin(api: httpx.Client, policy: str, rule: Rule) -> None:
    files = {"file": (f"learned_{policy}.dmn", table_xml(policy, [rule]).encode())}
    stored = api.post("/api/decisions", files=files, params={"new_version": "true"})
    assert stored.status_code == 201, stored.text
    pinned = api.post(f"/api/policies/{policy}/pin", json={"version": stored.json()["version"]})
    assert pinned.status_code == 200, pinned.text


def unpin(api: httpx.Client, *policies: str) -> None:
    for policy in policies:
        assert api.delete(f"/api/policies/{policy}/pin").status_code in (200, 204)


def decided(env: Environment, run: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (str(p), str(c), e)
        for p, c, e in rows(
            env,
            "SELECT policy, choice, evidence FROM policy_decisions WHERE run_id = %s ORDER BY id",
            run["id"],
        )
    ]


ROUTE_TO_B = Rule({"element": "implement"}, "coder-b", "test: always coder-b")


def test_the_pinned_failure_policy_switches_to_another_group(
    rapi: httpx.Client, routing_env: Environment
) -> None:
    pin(rapi, "route", ROUTE_TO_B)
    pin(
        rapi,
        "failure",
        Rule({"failure_class": "unavailable", "element": "implement"}, "switch", ""),
    )
    try:
        run = start(rapi, "Write a function add(a, b) ROUTE-DOWN first")
    finally:
        unpin(rapi, "route", "failure")
    assert run["status"] == "completed", run
    made = decided(routing_env, run)
    assert [(p, c) for p, c, _ in made] == [
        ("route", "coder-b"),
        ("failure", "switch"),
        ("route", "coder"),
    ]
    assert made[0][2]["rule"].startswith("pinned DMN v")
    assert made[1][2]["rule"].startswith("pinned DMN v")
    assert made[1][2]["failure_class"] == "unavailable"
    assert made[2][2]["switched_from"] == ["coder-b"]
    assert "not usable" in made[2][2]["pinned"]["fell_back"]
    implement = next(s for s in run["steps"] if s["element_id"] == "implement")
    assert implement["result"]["model_group"] == "coder"
    outcomes = rows(
        routing_env,
        "SELECT policy, choice, success FROM learning_policy_outcomes WHERE run_id = %s",
        run["id"],
    )
    assert ("route", "coder-b", False) in outcomes and ("route", "coder", True) in outcomes
    assert ("failure", "switch", True) in outcomes


def test_a_retried_group_that_stays_down_is_not_chosen_again(
    rapi: httpx.Client, routing_env: Environment
) -> None:
    pin(rapi, "route", ROUTE_TO_B)
    pin(rapi, "failure", Rule({"failure_class": "unavailable"}, "retry", "today's behaviour"))
    try:
        run = start(rapi, "Write a function add(a, b) ROUTE-DOWN second")
    finally:
        unpin(rapi, "route", "failure")
    # retried (the pinned table) until three calls in a row went unanswered: coder-b is down,
    # and the router no longer chooses it, whatever the pinned route table says
    assert run["status"] == "completed", run
    made = decided(routing_env, run)
    routes = [(c, e) for p, c, e in made if p == "route"]
    assert {c for p, c, _ in made if p == "failure"} == {"retry"}
    assert [c for c, _ in routes[:-1]] == ["coder-b"] * (len(routes) - 1)
    assert routes[-1][0] == "coder" and "unanswered" in routes[-1][1]["down"]["coder-b"]
