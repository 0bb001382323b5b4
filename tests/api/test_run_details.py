"""`GET /api/runs/{id}` from memory while a run has not changed, against real PostgreSQL
notifications: served again without a query, read afresh after a change."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from api.changes import RunChanges
from api.run_details import RunDetails
from engine.container import Database, build_engine
from engine.migrate import upgrade
from engine.runs import RunRequest
from engine.runs.queries import RunQueries
from engine.settings import Settings
from engine.tables import steps
from tests.servers import ROOT, Cluster


class CountingQueries(RunQueries):
    """The real queries, counting the detail reads that reach the database."""

    reads = 0

    async def get_run(self, run_id: UUID) -> dict[str, Any]:
        self.reads += 1
        return await super().get_run(run_id)


@pytest.fixture()
async def engine(cluster: Cluster):  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(cluster.database, "wg_run_details")
    await asyncio.to_thread(upgrade, url)
    e = build_engine(Settings(models_file=ROOT / "models.yaml"), Database(url), pool_size=2)
    await e.catalog.sync_folder(ROOT / "bpmn")
    yield e
    await e.db.dispose()


async def _until(condition: Any, what: str) -> None:
    for _ in range(200):  # bounded: 10 s
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_unchanged_run_is_served_from_memory_and_a_change_is_seen(engine) -> None:  # type: ignore[no-untyped-def]
    changes = RunChanges(engine.database.url)
    queries = CountingQueries(engine.db)
    details = RunDetails(queries, changes)
    try:
        changes.start()
        await _until(lambda: changes.live, "the LISTEN connection")
        run_id = await engine.runs.start(
            RunRequest(text="add(a, b)", pattern="quick"), created_by="t"
        )
        await _until(lambda: changes.mark(str(run_id)) > 0, "the run's notification")
        first = await details.get(run_id)
        again = await details.get(run_id)
        assert again == first and queries.reads == 1, "an unchanged run is not read again"

        async with engine.db.connect() as conn:
            [remember] = (
                await conn.execute(
                    select(steps.c.task_id).where(
                        steps.c.run_id == run_id, steps.c.state == "started"
                    )
                )
            ).all()
        seen = changes.mark(str(run_id))
        await engine.runs.complete_step(
            run_id,
            remember.task_id,
            operator="memory.recall",
            result={"choice": "nothing", "summary": "", "memories": [], "avoid": []},
            usage={"tokens_in": 5},
            duration_ms=1.0,
            attempt=1,
            decision=True,
            finishes=False,
        )
        await _until(lambda: changes.mark(str(run_id)) > seen, "the change's notification")
        changed = json.loads(await details.get(run_id))
        assert queries.reads == 2
        assert changed["tokens_in"] == 5
        states = {s["element_id"]: s["state"] for s in changed["steps"]}
        assert states["remember"] == "completed" and states["implement"] == "started"
    finally:
        await changes.close()
