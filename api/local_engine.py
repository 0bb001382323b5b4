"""A throwaway WeaverGen in this process, for the benches: an embedded PostgreSQL under
`settings.data_dir`, the engine, one worker and the learning recorder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.database import EmbeddedPostgres
from engine.container import Database, Engine, build_engine
from engine.jobs import build_app, run_worker
from engine.learning import LearningRecorder, LearningSpanProcessor, recording
from engine.migrate import upgrade
from engine.settings import Settings
from engine.telemetry import setup_tracing


@asynccontextmanager
async def local_engine(
    settings: Settings, *, service: str, concurrency: int, stalled_after: int = 30
) -> AsyncIterator[tuple[Engine, LearningRecorder]]:
    """The engine with its worker running and outcomes being learned; all stopped after."""
    pg = EmbeddedPostgres(settings.data_dir / "postgres")
    url = await asyncio.to_thread(pg.start)
    try:
        await asyncio.to_thread(upgrade, url)
        spans = LearningSpanProcessor()
        setup_tracing("none", endpoint=None, service=service, processors=[spans])
        engine = build_engine(settings, Database(url, pg))
        try:
            await engine.catalog.sync_folder(settings.bpmn_dir)
            app = build_app(engine.conninfo, engine.runner, engine.runs)
            worker = asyncio.create_task(
                run_worker(app, concurrency=concurrency, stalled_after=stalled_after, name=service)
            )
            try:
                async with recording(engine.learning, engine.db, spans) as recorder:
                    yield engine, recorder
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
        finally:
            await engine.close()
    finally:
        await asyncio.to_thread(pg.stop)
