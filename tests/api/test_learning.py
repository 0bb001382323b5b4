"""Finished runs leave learning records; decisions show the evidence they used."""

from __future__ import annotations

import subprocess
import time

import httpx
import psycopg

from tests.api.helpers import start_run
from tests.servers import BIN, Environment, wait_run


def rows(env: Environment, sql: str, *params: object) -> list[tuple]:
    url = env.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def wait_rows(env: Environment, sql: str, *params: object, timeout: float = 15.0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rows(env, sql, *params)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no learning record after {timeout} s: {sql} {params}")


def test_run_outcome_iteration_and_fix_are_recorded(env: Environment, api: httpx.Client) -> None:
    run_id = start_run(
        api, "Write a function add(a, b) that returns their sum BROKEN-FIRST", "quick"
    )
    assert wait_run(api, run_id)["status"] == "completed"
    [(pattern, success, iterations, task_type)] = wait_rows(
        env,
        "SELECT pattern, success, iterations, task_type FROM learning_runs WHERE run_id = %s",
        run_id,
    )
    assert (pattern, success, iterations, task_type) == ("quick", True, 1, "function")
    # the run's record is written first, its iterations and fixes just after it
    [(signature, helped)] = wait_rows(
        env, "SELECT signature, helped FROM learning_iterations WHERE run_id = %s", run_id
    )
    assert helped is True and signature.startswith("tests.failed: test_add")
    [(fixed_signature, fix)] = wait_rows(
        env, "SELECT signature, fix FROM learning_fixes WHERE run_id = %s", run_id
    )
    assert fixed_signature == signature and fix
    steps = rows(env, "SELECT step, success FROM learning_steps WHERE run_id = %s", run_id)
    assert ("validate", True) in steps and ("implement", True) in steps


def test_pattern_decision_shows_its_evidence(env: Environment, api: httpx.Client) -> None:
    run = wait_run(api, start_run(api, "Write a function add(a, b) that returns their sum"))
    assert run["status"] == "completed"
    decision = next(d for d in run["decisions"] if d["element_id"] == "choose_pattern")
    evidence = decision["evidence"]
    assert evidence["query"] == {"task_type": "function", "language": "python"}
    assert evidence["prior"] == "quick" and decision["choice"] == "quick"
    assert set(evidence["candidates"]) == {"quick", "standard"}
    assert evidence["candidates"]["quick"]["successes"] >= 1, "earlier quick runs were learned"
    shown = subprocess.run(
        [str(BIN / "weavergen"), "show", run["id"], "--server", env.url, "--token", env.token],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "decision choose_pattern → quick" in shown.stdout and '"candidates"' in shown.stdout


def test_recall_brings_an_earlier_fix_into_the_improve_prompt(
    env: Environment, api: httpx.Client
) -> None:
    text = "Write a function add(a, b) that returns their sum BROKEN-FIRST"
    first = wait_run(api, start_run(api, text, "quick"))
    wait_rows(env, "SELECT 1 FROM learning_fixes WHERE run_id = %s AND fix <> ''", first["id"])
    run = wait_run(api, start_run(api, text, "quick"))
    assert run["status"] == "completed"
    recall = next(d for d in run["decisions"] if d["element_id"] == "recall")
    assert recall["choice"] == "recalled", recall
    step = next(s for s in run["steps"] if s["element_id"] == "recall")
    assert any(m["kind"] == "fix" for m in step["result"]["memories"]), step["result"]
    improve = next(s for s in run["steps"] if s["element_id"] == "improve")
    prompt = api.get(f"/api/runs/{run['id']}/outputs/{improve['result']['prompt']}").json()
    assert "- Fixed before (tests.failed: test_add" in prompt["content"]


def test_approvals_are_recorded_as_corrections(env: Environment, api: httpx.Client) -> None:
    run_id = start_run(
        api, "Migrate the users.email column to citext in the database schema", "migration"
    )
    run = wait_run(api, run_id, ("waiting",))
    task_id = next(s for s in run["steps"] if s["element_id"] == "approve_migration")["task_id"]
    api.post(
        f"/api/runs/{run_id}/tasks/{task_id}/complete",
        json={"data": {"approved": True, "comment": "backup verified"}},
    ).raise_for_status()
    assert wait_run(api, run_id)["status"] == "completed"
    found = wait_rows(
        env, "SELECT step, approved, comment FROM learning_corrections WHERE run_id = %s", run_id
    )
    assert found == [("approve_migration", True, "backup verified")]
