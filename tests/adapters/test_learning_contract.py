"""One contract for every learning store, each against its real server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.learning import (
    Correction,
    FailureFix,
    IterationOutcome,
    PatternStats,
    RunOutcome,
    StepOutcome,
)


def _tag() -> str:
    return uuid.uuid4().hex[:10]


async def test_pattern_stats_count_runs_per_task_type_and_language(outcome_store: Any) -> None:
    task_type = f"function_{_tag()}"
    outcomes = [("quick", True)] * 3 + [("quick", False)] + [("standard", False)] * 2
    for i, (pattern, success) in enumerate(outcomes):
        await outcome_store.record_run(
            RunOutcome(
                run_id=f"r{i}-{task_type}",
                pattern=pattern,
                language="python",
                task_type=task_type,
                success=success,
                duration_ms=100.0 + i,
                tokens_in=10,
                tokens_out=20,
                iterations=1,
            )
        )
    # other kinds of work are not counted
    await outcome_store.record_run(
        RunOutcome(
            run_id=f"x-{task_type}",
            pattern="quick",
            language="go",
            task_type=task_type,
            success=False,
        )
    )
    await outcome_store.record_run(
        RunOutcome(
            run_id=f"y-{task_type}",
            pattern="quick",
            language="python",
            task_type="other",
            success=False,
        )
    )
    await outcome_store.flush()
    stats = await outcome_store.pattern_stats(task_type, "python")
    assert stats == [
        PatternStats(pattern="quick", successes=3, failures=1),
        PatternStats(pattern="standard", successes=0, failures=2),
    ]
    assert await outcome_store.pattern_stats(f"never_{_tag()}", "python") == []
    assert outcome_store.health().dropped == 0


async def test_iteration_stats(outcome_store: Any) -> None:
    sig = f"tests.failed:assert {_tag()} == N"
    for helped in (True, True, False):
        await outcome_store.record_iteration(
            IterationOutcome(run_id=_tag(), signature=sig, language="python", helped=helped)
        )
    await outcome_store.record_iteration(
        IterationOutcome(run_id=_tag(), signature=sig, language="go", helped=True)
    )
    await outcome_store.flush()
    assert await outcome_store.iteration_stats(sig, "python") == (2, 3)
    assert await outcome_store.iteration_stats(f"unseen {_tag()}", "python") == (0, 0)


async def test_step_outcomes_are_accepted(outcome_store: Any) -> None:
    await outcome_store.record_step(
        StepOutcome(
            run_id=_tag(),
            task_id=_tag(),
            pattern="quick",
            step="validate",
            operator="validate.code",
            model_group="",
            deployment="",
            language="python",
            task_type="function",
            success=True,
            duration_ms=812.5,
            score=0.95,
            attempt=1,
            iteration=2,
        )
    )
    await outcome_store.flush()
    health = outcome_store.health()
    assert health.healthy and health.buffered == 0 and health.dropped == 0


async def test_fixes_for_signatures_newest_first(knowledge_store: Any) -> None:
    sig_a, sig_b = f"ruff.F821:undefined name {_tag()}", f"tests.failed:{_tag()}"
    start = datetime.now(UTC) - timedelta(minutes=5)
    items = [
        FailureFix(
            run_id=_tag(),
            request="add two numbers",
            pattern="quick",
            language="python",
            signature=sig_a,
            fix="import the missing name",
            at=start,
        ),
        FailureFix(
            run_id=_tag(),
            request="fix paginate",
            pattern="bug_fix",
            language="python",
            signature=sig_b,
            fix="slice end was off by one",
            at=start + timedelta(minutes=1),
        ),
        FailureFix(
            run_id=_tag(),
            request="x",
            pattern="quick",
            language="python",
            signature=sig_a,
            fix="",
            at=start + timedelta(minutes=2),
        ),  # unresolved
        FailureFix(
            run_id=_tag(),
            request="x",
            pattern="quick",
            language="go",
            signature=sig_a,
            fix="a Go fix",
            at=start + timedelta(minutes=3),
        ),
        FailureFix(
            run_id=_tag(),
            request='quote " and } {',
            pattern="quick",
            language="python",
            signature=sig_a,
            fix='use "quotes" } verbatim',
            at=start + timedelta(minutes=4),
        ),
    ]
    for item in items:
        await knowledge_store.record_failure_fix(item)
    await knowledge_store.flush()
    found = await knowledge_store.fixes_for([sig_a, sig_b], "python", limit=5)
    assert [f.fix for f in found] == [
        'use "quotes" } verbatim',
        "slice end was off by one",
        "import the missing name",
    ]
    assert found[0].request == 'quote " and } {'
    assert len(await knowledge_store.fixes_for([sig_a, sig_b], "python", limit=2)) == 2
    assert [f.fix for f in await knowledge_store.fixes_for([sig_a], "go")] == ["a Go fix"]
    assert await knowledge_store.fixes_for([], "python") == []


async def test_corrections_in_time_order(knowledge_store: Any) -> None:
    run_id = _tag()
    start = datetime.now(UTC)
    await knowledge_store.record_run(
        RunOutcome(
            run_id=run_id,
            pattern="migration",
            language="python",
            task_type="schema_change",
            success=True,
        ),
        "migrate users.email",
    )
    for i, (approved, comment) in enumerate([(False, "not yet"), (True, "ok now")]):
        await knowledge_store.record_correction(
            Correction(
                run_id=run_id,
                step="approve_migration",
                approved=approved,
                comment=comment,
                at=start + timedelta(seconds=i),
            )
        )
    await knowledge_store.flush()
    got = await knowledge_store.corrections(run_id)
    assert [(c.approved, c.comment, c.step) for c in got] == [
        (False, "not yet", "approve_migration"),
        (True, "ok now", "approve_migration"),
    ]
    assert await knowledge_store.corrections(_tag()) == []
    assert knowledge_store.health().dropped == 0
