"""The run service in-process against real PostgreSQL: duplicates dropped, state round-trips."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from sqlalchemy import select

from adapters.learning import StepOutcome
from adapters.learning.postgres import learning_steps
from adapters.write_batch import WriteBatch
from engine.container import Database, build_engine
from engine.migrate import upgrade
from engine.runs import RunRequest, writes
from engine.settings import Settings
from engine.tables import runs, step_events, steps
from tests.servers import ROOT, Cluster


@pytest.fixture()
async def engine(cluster: Cluster):  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(cluster.database, "wg_runs")
    await asyncio.to_thread(upgrade, url)
    settings = Settings(models_file=ROOT / "models.yaml")
    e = build_engine(settings, Database(url), pool_size=2)
    await e.catalog.sync_folder(ROOT / "bpmn")
    yield e
    await e.db.dispose()


async def _waiting(engine, run_id):  # type: ignore[no-untyped-def]
    async with engine.db.connect() as conn:
        rows = (
            (
                await conn.execute(
                    select(steps).where(steps.c.run_id == run_id, steps.c.state == "started")
                )
            )
            .mappings()
            .all()
        )
    return rows


# what memory.recall returns when nothing was learned yet (the `remember` step of a pattern)
NOTHING = {"choice": "nothing", "summary": "", "memories": [], "avoid": []}


async def _past_remember(engine, run_id) -> None:  # type: ignore[no-untyped-def]
    assert await _complete(engine, run_id, {"remember": NOTHING}) == "remember"


async def test_duplicate_and_late_results_are_dropped(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = await engine.runs.start(RunRequest(text="add(a, b)", pattern="quick"), created_by="t")
    await _past_remember(engine, run_id)
    [implement] = await _waiting(engine, run_id)
    assert implement["element_id"] == "implement"
    step = await engine.runs.prepare_step(run_id, implement["task_id"])
    assert step is not None and step.operator == "llm.generate" and step.visit == 1
    assert step.params == {"template": "implement", "group": "coder", "memory": NOTHING}
    kwargs = dict(
        operator="llm.generate",
        result={"files": {}},
        usage={"tokens_in": 3},
        duration_ms=1.0,
        attempt=1,
        decision=False,
        finishes=False,
    )
    assert await engine.runs.complete_step(run_id, implement["task_id"], **kwargs) is True
    assert await engine.runs.complete_step(run_id, implement["task_id"], **kwargs) is False
    assert await engine.runs.prepare_step(run_id, implement["task_id"]) is None
    async with engine.db.connect() as conn:
        row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().one()
    assert row["tokens_in"] == 3, "the duplicate must not be counted again"
    assert row["lock_version"] == 3  # remember, then implement once
    [validate] = await _waiting(engine, run_id)
    step = await engine.runs.prepare_step(run_id, validate["task_id"])
    assert step is not None and step.params["files"] == [{"files": {}}]


async def test_state_round_trips_at_every_wait_state(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = await engine.runs.start(RunRequest(text="add(a, b)", pattern="quick"), created_by="t")
    async with engine.db.connect() as conn:
        row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().one()
        wf = await engine.runs.kernel.restore(conn, row)
    again = engine.runs.kernel.codec.dump(
        engine.runs.kernel.codec.restore(
            engine.runs.kernel.codec.dump(wf),
            1,
            "quick",
            await _specs(engine, row["spec_versions"]),
        )
    )
    assert again == engine.runs.kernel.codec.dump(wf)
    assert all("request" in t.data for t in wf.get_tasks() if t.state == 32)


async def _specs(engine, pinned):  # type: ignore[no-untyped-def]
    async with engine.db.connect() as conn:
        return await engine.catalog.specs(conn, pinned)


async def _complete(engine, run_id, result_by_element):  # type: ignore[no-untyped-def]
    """Complete the run's one waiting step with the result given for its element."""
    [waiting] = await _waiting(engine, run_id)
    element = waiting["element_id"]
    applied = await engine.runs.complete_step(
        run_id,
        waiting["task_id"],
        operator=waiting["operator"],
        result=result_by_element[element],
        usage={},
        duration_ms=1.0,
        attempt=1,
        decision=element in ("decide_next", "remember"),
        finishes=element in ("accept", "give_up"),
    )
    assert applied
    return element


async def _stored_tasks(engine, run_id) -> int:  # type: ignore[no-untyped-def]
    async with engine.db.connect() as conn:
        state = (await conn.execute(select(runs.c.state).where(runs.c.id == run_id))).scalar_one()
    return len(state["tasks"])


async def test_a_loop_does_not_grow_the_stored_state(engine) -> None:  # type: ignore[no-untyped-def]
    """Finished tasks behind the loop's current iteration are pruned from the stored tree;
    the step table keeps the whole history, and the run still ends as the diagram says."""
    run_id = await engine.runs.start(RunRequest(text="add(a, b)", pattern="quick"), created_by="t")
    results = {
        "remember": NOTHING,
        "implement": {"files": {"add.py": "def add(a, b): return a - b"}},
        "validate": {"passed": False, "score": 0.2, "findings": []},
        "decide_next": {"choice": "improve", "confidence": 0.5},
        "recall": {"fixes": []},
        "improve": {"files": {"add.py": "def add(a, b): return a + b"}},
        "accept": {"status": "completed"},
    }
    sizes = []
    for _ in range(6):  # one iteration: validate, decide_next, recall, improve (implement first)
        while await _complete(engine, run_id, results) != "improve":
            pass
        sizes.append(await _stored_tasks(engine, run_id))
    assert sizes[-1] == sizes[1], f"stored tasks per iteration: {sizes}"
    results["decide_next"] = {"choice": "accept", "confidence": 0.9}
    while await _complete(engine, run_id, results) != "accept":
        pass
    async with engine.db.connect() as conn:
        status = (await conn.execute(select(runs.c.status).where(runs.c.id == run_id))).scalar()
        history = (
            await conn.execute(
                select(steps.c.element_id).where(
                    steps.c.run_id == run_id, steps.c.element_id == "validate"
                )
            )
        ).all()
    assert status == "completed"
    assert len(history) == 7, "every validation of every iteration stays in the step table"


async def test_a_cached_workflow_is_not_used_after_another_process_changed_the_run(
    engine, cluster: Cluster
) -> None:  # type: ignore[no-untyped-def]
    """Each process keeps the workflows it changed last; a change made elsewhere (another
    worker, the API completing a user task) bumps the run's lock version, so the stale copy
    is restored afresh instead of being used."""
    url = engine.db.url.render_as_string(hide_password=False)
    other = build_engine(engine.settings, Database(url), pool_size=1)
    try:
        run_id = await engine.runs.start(
            RunRequest(text="add(a, b)", pattern="quick"), created_by="t"
        )
        await _past_remember(engine, run_id)
        assert len(engine.runs.kernel.cache) == 1
        results = {"implement": {"files": {}}, "validate": {"passed": True, "score": 1.0}}
        assert await _complete(other, run_id, results) == "implement"
        hits = engine.runs.kernel.cache.hits
        assert await _complete(engine, run_id, results) == "validate"
        assert engine.runs.kernel.cache.hits == hits, "the stale copy must not be used"
        [waiting] = await _waiting(engine, run_id)
        assert waiting["element_id"] == "decide_next"
    finally:
        await other.db.dispose()


async def test_a_failing_write_fails_its_whole_batch(engine) -> None:  # type: ignore[no-untyped-def]
    """Writes sent together in one pipeline commit together or not at all."""
    run_id = await engine.runs.start(RunRequest(text="add(a, b)", pattern="quick"), created_by="t")
    batch = WriteBatch()
    writes.add_event(batch, run_id, None, None, "probe.kept", {})
    writes.add_event(batch, uuid.uuid4(), None, None, "probe.orphan", {})  # no such run
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        async with engine.db.begin() as conn:
            await batch.send(conn)
    async with engine.db.connect() as conn:
        kept = (
            await conn.execute(select(step_events.c.id).where(step_events.c.event == "probe.kept"))
        ).all()
    assert kept == []


async def test_a_step_is_learned_from_once_with_its_result(engine) -> None:  # type: ignore[no-untyped-def]
    """With the learning tables on the run database, a step's learning record is written in
    the transaction that stores its result: a duplicate result (dropped) adds none."""
    run_id = await engine.runs.start(RunRequest(text="add(a, b)", pattern="quick"), created_by="t")
    await _past_remember(engine, run_id)
    [implement] = await _waiting(engine, run_id)
    learned = StepOutcome(
        run_id=str(run_id),
        task_id=str(implement["task_id"]),
        pattern="quick",
        step="implement",
        operator="llm.generate",
        language="python",
        success=True,
    )
    kwargs = dict(
        operator="llm.generate",
        result={"files": {}},
        usage={},
        duration_ms=1.0,
        attempt=1,
        decision=False,
        finishes=False,
        learned=learned,
    )
    assert await engine.runs.complete_step(run_id, implement["task_id"], **kwargs) is True
    assert await engine.runs.complete_step(run_id, implement["task_id"], **kwargs) is False
    async with engine.db.connect() as conn:
        recorded = (
            await conn.execute(
                select(learning_steps.c.step).where(learning_steps.c.run_id == str(run_id))
            )
        ).all()
    assert [r.step for r in recorded] == ["implement"]
