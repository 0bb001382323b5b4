"""Multi-model consensus as BPMN (parallel multi-instance generate + llm.consensus), the
quality prediction, and the reasoning loop's convergence stop — through the real server,
workers, sandbox and the stand-in model answering as three model groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import psycopg

from tests.api.helpers import step
from tests.servers import Environment, Standin, wait_run

CHECKS = {
    "test_check.py": "from solution import add\n\n\ndef test_add():\n"
    "    assert add(2, 3) == 5\n    assert add(-1, 1) == 0\n"
}
GROUPS = ["coder", "coder-b", "coder-c"]


def start(api: httpx.Client, text: str, **options: Any) -> str:
    resp = api.post(
        "/api/runs",
        json={
            "text": text,
            "language": "python",
            "pattern": "quick",
            "checks": CHECKS,
            "options": {"consensus": True, "escalate": False, **options},
        },
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def rows(env: Environment, query: str, *params: Any) -> list[tuple[Any, ...]]:
    url = env.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def decision(run: dict[str, Any], element_id: str) -> dict[str, Any]:
    return next(d for d in run["decisions"] if d["element_id"] == element_id)


def test_three_groups_answer_in_parallel_and_agree(api: httpx.Client, standin: Standin) -> None:
    standin.configure(latency_ms=600)
    try:
        run = wait_run(api, start(api, "Write a function add(a, b) that returns their sum"))
    finally:
        standin.configure(latency_ms=0)
    assert run["status"] == "completed", run
    children = [s for s in step(run, "generate_candidates") if s["kind"] == "ServiceTask"]
    assert len(children) == 3
    assert sorted(c["result"]["model_group"] for c in children) == GROUPS
    # the three 0.6 s calls overlapped: one after another, their ends would lie 1.2 s apart
    ends = sorted(datetime.fromisoformat(c["finished_at"]) for c in children)
    assert (ends[-1] - ends[0]).total_seconds() < 0.6
    chosen = decision(run, "choose_candidate")
    [group] = chosen["evidence"]["groups"]
    assert group["votes"] == 3 and group["passed"] is True
    assert sorted(group["model_groups"]) == GROUPS
    assert "passed validation" in chosen["evidence"]["reason"]
    assert len(chosen["evidence"]["candidates"]) == 3
    validate = step(run, "validate")[0]["result"]
    assert validate["reused_from"] == "choose_candidate" and validate["passed"] is True


def test_wrong_majority_loses_to_validation(api: httpx.Client) -> None:
    run = wait_run(api, start(api, "Write a function add(a, b) WRONG-MAJORITY", max_iterations=0))
    assert run["status"] == "completed", run
    chosen = decision(run, "choose_candidate")
    groups = chosen["evidence"]["groups"]
    assert [sorted(g["model_groups"]) for g in groups] == [["coder", "coder-b"], ["coder-c"]]
    majority, minority = groups
    assert majority["votes"] == 2 and majority["passed"] is False
    assert minority["passed"] is True and chosen["choice"] == "group 2"
    assert "more votes but did not pass" in chosen["evidence"]["reason"]
    # the prediction trusted the agreeing pair more; validation overruled it
    assert majority["predicted"] > minority["predicted"]
    final = next(a for a in run["artifacts"] if a["final"] and a["path"] == "solution.py")
    code = api.get(f"/api/runs/{run['id']}/artifacts/{final['id']}").json()["content"]
    assert "a + b" in code


def test_tie_is_settled_by_validation_in_predicted_order(api: httpx.Client) -> None:
    run = wait_run(api, start(api, "Write a function add(a, b) TIE-VOTE", max_iterations=0))
    assert run["status"] == "completed", run
    chosen = decision(run, "choose_candidate")
    groups = chosen["evidence"]["groups"]
    assert [g["votes"] for g in groups] == [1, 1, 1]
    winner = groups[int(chosen["choice"].split()[-1]) - 1]
    assert winner["passed"] is True and winner["model_groups"] != ["coder-b"]
    assert "tie on votes" in chosen["evidence"]["reason"]
    order = chosen["evidence"]["validation_order"]
    predicted = [groups[k]["predicted"] for k in order]
    assert predicted == sorted(predicted, reverse=True)
    # tests ran only until one passed: later groups in the order kept their tests skipped
    ran = [groups[k]["tests_ran"] for k in order]
    assert ran[0] and ran == sorted(ran, reverse=True)


def test_loop_stops_when_two_iterations_bring_no_improvement(api: httpx.Client) -> None:
    run_id = start(
        api, "Write a function add(a, b) NEVER-PASSES", consensus=False, max_iterations=8
    )
    run = wait_run(api, run_id)
    assert run["status"] == "failed" and run["error"] is None  # given up, not broken
    nexts = [d for d in run["decisions"] if d["element_id"] == "decide_next"]
    assert [d["choice"] for d in nexts] == ["improve", "improve", "reject"]
    assert nexts[-1]["evidence"]["rule"].startswith("converged")
    assert len(nexts[-1]["evidence"]["scores"]) == 3
    assert len(step(run, "improve")) == 2  # each iteration is a visible step
    assert step(run, "give_up")


def test_quality_prediction_is_stored_and_learned(env: Environment, api: httpx.Client) -> None:
    run = wait_run(
        api, start(api, "Write a function add(a, b) that returns their sum", consensus=False)
    )
    assert run["status"] == "completed", run
    prediction = step(run, "validate")[0]["result"]["prediction"]
    assert 0.0 < prediction["predicted"] < 1.0
    assert set(prediction["terms"]) >= {"prior", "agreement", "lint", "types"}
    recorded = rows(
        env,
        "SELECT model_group, predicted, passed FROM learning_candidates WHERE run_id = %s",
        run["id"],
    )
    assert recorded == [("coder", prediction["predicted"], True)]


def test_unknown_model_group_is_refused(api: httpx.Client) -> None:
    resp = api.post(
        "/api/runs",
        json={"text": "x", "options": {"groups": ["coder", "no-such-group"]}},
    )
    assert resp.status_code == 422 and "no-such-group" in resp.json()["detail"]


def test_checks_must_be_test_files(api: httpx.Client) -> None:
    resp = api.post(
        "/api/runs",
        json={"text": "x", "checks": {"acceptance.py": "assert True\n"}},
    )
    assert resp.status_code == 422 and "acceptance.py" in resp.text


def test_standard_consensus_without_tests_records_no_false_failures(
    env: Environment, api: httpx.Client
) -> None:
    text = "Add a slugify module with a slugify function for the blog service API"
    run = wait_run(
        api, api.post("/api/runs", json={"text": text, "pattern": "standard"}).json()["id"]
    )
    assert run["status"] == "completed", run
    chosen = decision(run, "choose_candidate")
    assert not any(g["tests_ran"] for g in chosen["evidence"]["groups"])  # no tests exist yet
    failed = rows(
        env,
        "SELECT count(*) FROM learning_candidates WHERE run_id = %s AND passed = false",
        run["id"],
    )
    assert failed == [(0,)]
