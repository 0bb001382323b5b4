"""Each pattern driven to completion through the real server, workers, PostgreSQL, LiteLLM
and the stand-in model over HTTP, including the improve loop and the migration approval."""

from __future__ import annotations

import httpx

from tests.api.helpers import choices, final_files, pytest_passes, start_run, step
from tests.servers import wait_run

BUGGY_PAGINATE = "def paginate(items, page, size):\n    start = page * size\n    return items[start:start + size - 1]\n"


def test_quick_improves_broken_code_then_completes(api: httpx.Client) -> None:
    run_id = start_run(
        api, "Write a function add(a, b) that returns their sum BROKEN-FIRST", "quick"
    )
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run
    assert run["pattern"] == "quick"
    assert choices(run, "decide_next") == ["improve", "accept"]
    assert [s["state"] for s in step(run, "validate")] == ["completed", "completed"]
    files = final_files(api, run)
    assert set(files) == {"solution.py", "test_solution.py"}
    assert "a + b" in files["solution.py"]
    result = pytest_passes(files)
    assert result.returncode == 0, result.stdout
    assert run["tokens_in"] > 0 and run["tokens_out"] > 0


def test_bad_file_name_from_the_model_is_a_finding_to_fix(api: httpx.Client) -> None:
    run_id = start_run(api, "Write a function add(a, b) BADNAME-FIRST", "quick")
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run
    assert choices(run, "decide_next") == ["improve", "accept"]
    first = step(run, "validate")[0]["result"]
    assert first["passed"] is False and first["stages"]["files"] == "failed"
    assert [f["rule"] for f in first["findings"]][:1] == ["files.bad_name"]
    assert "../outside.py" in first["findings"][0]["message"]


def test_an_answer_without_code_is_a_finding_to_fix(api: httpx.Client) -> None:
    run = wait_run(api, start_run(api, "Write a function add(a, b) NO-CODE-FIRST", "quick"))
    assert run["status"] == "completed", run
    assert run["incidents"] == []
    assert choices(run, "decide_next") == ["improve", "accept"]
    first = step(run, "validate")[0]["result"]
    assert first["passed"] is False and first["stages"] == {"answer": "failed"}
    [finding] = first["findings"]
    assert finding["rule"] == "answer.no_code"
    assert "no python code" in finding["message"] and "fenced code block" in finding["message"]


def test_orchestrate_picks_standard_and_runs_parallel_finishing(api: httpx.Client) -> None:
    text = "Add a slugify module with a slugify function for the blog service API BROKEN-FIRST"
    run = wait_run(api, start_run(api, text))
    assert run["status"] == "completed", run
    assert run["entry"] == "orchestrate" and run["pattern"] == "standard"
    decision = next(d for d in run["decisions"] if d["element_id"] == "choose_pattern")
    assert decision["choice"] == "standard"
    assert decision["evidence"]["classification"]["source"] in ("rules", "learned")
    assert choices(run, "decide_next") == ["improve", "accept"]
    doc, review = step(run, "document")[0], step(run, "review")[0]
    # both branches of the parallel gateway were dispatched in the same transaction
    assert doc["started_at"] == review["started_at"]
    assert doc["state"] == review["state"] == "completed"
    files = final_files(api, run)
    assert {"slug.py", "test_slug.py", "README.md"} <= set(files)
    assert pytest_passes({k: v for k, v in files.items() if k.endswith(".py")}).returncode == 0


def test_orchestrate_picks_bug_fix_with_reproduction_and_regression(api: httpx.Client) -> None:
    text = "Fix the off-by-one bug in paginate(): the last item of a page is missing BROKEN-FIRST"
    run = wait_run(api, start_run(api, text, files={"paginate.py": BUGGY_PAGINATE}))
    assert run["status"] == "completed", run
    assert run["pattern"] == "bug_fix"
    assert choices(run, "decide_next") == ["improve", "accept"]
    assert step(run, "validate_regression")[0]["result"]["passed"] is True
    files = final_files(api, run)
    assert set(files) == {"paginate.py", "test_paginate.py", "test_paginate_regression.py"}
    assert pytest_passes(files).returncode == 0


def test_migration_waits_for_approval_then_completes(api: httpx.Client) -> None:
    text = "Migrate the users.email column to citext in the database schema BROKEN-FIRST"
    run_id = start_run(api, text)
    run = wait_run(api, run_id, ("waiting",))
    assert run["pattern"] == "migration"
    approval = step(run, "approve_migration")[0]
    assert approval["state"] == "ready" and approval["kind"] == "UserTask"
    assert not step(run, "migrate"), "nothing migrates before the approval"
    resp = api.post(
        f"/api/runs/{run_id}/tasks/{approval['task_id']}/complete",
        json={"data": {"approved": True, "comment": "backup checked"}},
    )
    assert resp.status_code == 200, resp.text
    again = api.post(
        f"/api/runs/{run_id}/tasks/{approval['task_id']}/complete",
        json={"data": {"approved": True}},
    )
    assert again.status_code == 409
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run
    assert choices(run, "decide_next") == ["improve", "accept"]
    files = final_files(api, run)
    assert {"migration.py", "test_migration.py", "backup.py", "ROLLBACK.md"} == set(files)


def test_migration_rejected_by_reviewer_fails(api: httpx.Client) -> None:
    run_id = start_run(
        api, "Migrate the users.email column to citext in the database schema", "migration"
    )
    run = wait_run(api, run_id, ("waiting",))
    task_id = step(run, "approve_migration")[0]["task_id"]
    api.post(
        f"/api/runs/{run_id}/tasks/{task_id}/complete",
        json={"data": {"approved": False, "comment": "not now"}},
    ).raise_for_status()
    run = wait_run(api, run_id)
    assert run["status"] == "failed"
    assert step(run, "rejected")[0]["state"] == "completed"


def test_bound_reached_gives_up(api: httpx.Client) -> None:
    run = wait_run(api, start_run(api, "Write a function add(a, b) NEVER-PASSES", "quick"))
    assert run["status"] == "failed"
    assert choices(run, "decide_next") == ["improve", "improve", "reject"]
    assert not final_files(api, run)


def test_nearly_passing_code_is_escalated_to_a_person(api: httpx.Client) -> None:
    for approved, outcome in ((True, "completed"), (False, "failed")):
        run_id = start_run(api, "Write a function add(a, b) NEARLY-PASSES", "quick")
        run = wait_run(api, run_id, ("waiting",))
        assert choices(run, "decide_next") == ["improve", "improve", "escalate"]
        [review] = step(run, "human_review")
        assert review["state"] == "ready" and review["kind"] == "UserTask"
        resp = api.post(
            f"/api/runs/{run_id}/tasks/{review['task_id']}/complete",
            json={"data": {"approved": approved, "comment": "looks fine"}},
        )
        assert resp.status_code == 200, resp.text
        run = wait_run(api, run_id)
        assert run["status"] == outcome
        assert bool(final_files(api, run)) is approved
