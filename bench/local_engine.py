"""A throwaway WeaverGen in this process, for the benches: an embedded PostgreSQL under
`settings.data_dir`, the engine, one worker and the learning recorder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.database import EmbeddedPostgres
from engine.container import Database, Engine
from engine.jobs.app import build_app, run_worker
from engine.learning.recorder import LearningRecorder
from engine.migrate import upgrade
from engine.settings import Settings
from engine.startup import started_engine


@asynccontextmanager
async def local_engine(
    settings: Settings, *, service: str, concurrency: int, stalled_after: int = 30
) -> AsyncIterator[tuple[Engine, LearningRecorder]]:
    """The engine with its worker running and outcomes being learned; all stopped after.

    The recorder yielded drains on demand (`await recorder.drain()` records everything
    finished so far); the engine's own recorder keeps draining in the background, and each
    event goes to whichever takes it first."""
    pg = EmbeddedPostgres(settings.data_dir / "postgres")
    url = await asyncio.to_thread(pg.start)
    try:
        await asyncio.to_thread(upgrade, url)
    except BaseException:
        await asyncio.to_thread(pg.stop)
        raise
    # the engine owns the database from here: closing the engine stops the PostgreSQL
    async with started_engine(
        settings, service=service, database=Database(url, pg), exporter="none"
    ) as engine:
        await engine.catalog.sync_folder(settings.bpmn_dir)
        app = build_app(engine.conninfo, engine.runner, engine.runs)
        worker = asyncio.create_task(
            run_worker(app, concurrency=concurrency, stalled_after=stalled_after, name=service)
        )
        try:
            yield engine, LearningRecorder(engine.learning, engine.db, engine.events, engine.models)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
