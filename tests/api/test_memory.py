"""Memories recalled before the first attempt: earlier solutions of similar requests and
people's corrections reach the prompt, within the recall's token budget."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from adapters.database import create_engine
from engine.memory.rank import FEATURES
from engine.memory.training import recall_samples
from tests.api.test_learning import wait_rows
from tests.servers import Environment, wait_run


def _start(api: httpx.Client, text: str, pattern: str, project: str) -> str:
    resp = api.post(
        "/api/runs",
        json={"text": text, "language": "python", "pattern": pattern, "project": project},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _prompt(api: httpx.Client, run: dict, element: str) -> str:
    step = next(s for s in run["steps"] if s["element_id"] == element)
    return str(
        api.get(f"/api/runs/{run['id']}/outputs/{step['result']['prompt']}").json()["content"]
    )


def test_first_attempt_prompt_holds_recalled_memories_under_budget(
    env: Environment, api: httpx.Client
) -> None:
    project = f"memo-{uuid.uuid4().hex[:8]}"
    # a word of its own: the session's other runs asked for add(a, b) in the same words
    text = f"Write a function add(a, b) that returns their sum for ledger {project}"
    first = wait_run(api, _start(api, text, "quick", project))
    assert first["status"] == "completed"
    wait_rows(env, "SELECT 1 FROM learning_memories WHERE run_id = %s", first["id"])

    run = wait_run(api, _start(api, text, "quick", project))
    assert run["status"] == "completed"
    remember = next(s for s in run["steps"] if s["element_id"] == "remember")
    result = remember["result"]
    assert result["choice"] == "recalled", result
    ids = [m["id"] for m in result["memories"]]
    assert f"solution:{first['id']}" in ids, ids
    assert len(ids) <= 5
    evidence = result["evidence"]
    assert 0 < evidence["tokens"] <= evidence["budget"] == 500
    assert evidence["candidates"] >= 1 and evidence["store"] == "postgres"
    prompt = _prompt(api, run, "implement")
    assert "## What earlier runs and people taught" in prompt
    assert "- Solved before (python): solution.py" in prompt
    assert result["summary"] in prompt

    # what the ranker learns from: each memory a finished run recalled, with its features
    async def samples() -> list[tuple[dict[str, float], bool]]:
        db = create_engine(env.database_url, pool_size=1)
        try:
            return await recall_samples(db)
        finally:
            await db.dispose()

    found = asyncio.run(samples())
    assert found and set(found[0][0]) == set(FEATURES)
    assert any(passed for _, passed in found)


def test_a_rejection_is_recalled_as_a_warning_for_a_similar_request(
    env: Environment, api: httpx.Client
) -> None:
    project = f"memo-{uuid.uuid4().hex[:8]}"
    text = "Migrate the users.email column to citext in the database schema"
    rejected_id = _start(api, text, "migration", project)
    run = wait_run(api, rejected_id, ("waiting",))
    task_id = next(s for s in run["steps"] if s["element_id"] == "approve_migration")["task_id"]
    api.post(
        f"/api/runs/{rejected_id}/tasks/{task_id}/complete",
        json={"data": {"approved": False, "comment": "Never run this without a `BEGIN` first"}},
    ).raise_for_status()
    assert wait_run(api, rejected_id)["status"] in ("completed", "failed")
    wait_rows(
        env,
        "SELECT 1 FROM learning_memories WHERE run_id = %s AND kind = 'correction'",
        rejected_id,
    )

    second = _start(api, text, "migration", project)
    run = wait_run(api, second, ("waiting",))
    remember = next(s for s in run["steps"] if s["element_id"] == "remember")
    assert f"correction:{rejected_id}:approve_migration" in [
        m["id"] for m in remember["result"]["memories"]
    ], remember["result"]
    assert remember["result"]["corrections"] >= 1
    assert (
        'Warning: a person rejected similar code: "Never run this without a `BEGIN` first"'
        in (remember["result"]["summary"])
    )
