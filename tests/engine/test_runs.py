"""The run service in-process against real PostgreSQL: duplicates dropped, state round-trips."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from engine.container import Database, build_engine
from engine.migrate import upgrade
from engine.runs import RunRequest
from engine.settings import Settings
from engine.tables import runs, steps
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


async def test_duplicate_and_late_results_are_dropped(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = await engine.runs.start(RunRequest(text="add(a, b)", pattern="quick"), created_by="t")
    [implement] = await _waiting(engine, run_id)
    assert implement["element_id"] == "implement"
    step = await engine.runs.prepare_step(run_id, implement["task_id"])
    assert step is not None and step.operator == "llm.generate" and step.visit == 1
    assert step.params == {"template": "implement", "group": "coder"}
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
    assert row["lock_version"] == 2
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
