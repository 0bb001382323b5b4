"""Limits on what people send: task data nested 300, 700 and 5,000 deep, and a 10 MB
string, are each refused with 422 naming the limit; the run stays readable and completes
with good data."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.helpers import start_run
from tests.servers import Environment, wait_run


def _nested(depth: int) -> str:
    """{"data": {"approved": true, "x": [[…]]}} with `depth` levels in all, as JSON text
    (built as text: Python's own encoder could not write the deepest one)."""
    inner = depth - 2  # "data" and its object are two of the levels
    return '{"data": {"approved": true, "x": ' + "[" * inner + "]" * inner + "}}"


@pytest.mark.parametrize("depth", [300, 700, 5000])
def test_deep_task_data_is_refused(
    api: httpx.Client, migration_waiting: tuple[str, str], depth: int
) -> None:
    run_id, task_id = migration_waiting
    resp = api.post(
        f"/api/runs/{run_id}/tasks/{task_id}/complete",
        content=_nested(depth),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert "deeper than 32 levels" in resp.text
    assert api.get(f"/api/runs/{run_id}").status_code == 200


def test_huge_task_data_is_refused_then_good_data_completes(
    api: httpx.Client, migration_waiting: tuple[str, str]
) -> None:
    run_id, task_id = migration_waiting
    resp = api.post(
        f"/api/runs/{run_id}/tasks/{task_id}/complete",
        json={"data": {"approved": True, "comment": "x" * 10_000_000}},
    )
    assert resp.status_code == 422, resp.text[:300]
    assert "larger than 1000 kB" in resp.text
    assert api.get(f"/api/runs/{run_id}").status_code == 200
    ok = api.post(
        f"/api/runs/{run_id}/tasks/{task_id}/complete",
        json={"data": {"approved": True, "comment": "fine", "x": [[[1]]]}},
    )
    assert ok.status_code == 200, ok.text
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run
    assert json.dumps(run)  # readable to the end


@pytest.fixture(scope="module")
def migration_waiting(env: Environment) -> tuple[str, str]:
    """A migration run waiting for its approval: (run id, task id)."""
    with env.client() as api:
        text = "Migrate the users.email column to citext in the database schema"
        run_id = start_run(api, text, "migration")
        run = wait_run(api, run_id, ("waiting",))
    approval = [s for s in run["steps"] if s["element_id"] == "approve_migration"][0]
    return run_id, approval["task_id"]
