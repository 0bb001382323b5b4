"""The start-up sequence every process shares: tracing → database → engine → learning
recorder, and everything stopped in reverse order on the way out.

`weavergen serve`, `weavergen worker` and the benches' throwaway engine all start here, so a
new start-up step (warming a cache, say) is added once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine.container import Database, Engine, build_engine, open_database
from engine.decisions import quality_fit
from engine.decisions.learned import keep_fitted
from engine.learning.recorder import recording
from engine.memory.training import keep_ranker_fitted
from engine.settings import Settings
from engine.telemetry import setup_tracing


@asynccontextmanager
async def started_engine(
    settings: Settings,
    *,
    service: str,
    database: Database | None = None,
    exporter: str | None = None,
    pool_timeout: float = 10.0,
    pre_ping: bool = False,
) -> AsyncIterator[Engine]:
    """A running engine with its learning recorder for the life of the block.

    `database`: one already opened and migrated (default: `DATABASE_URL`, else the embedded
    PostgreSQL, migrated here); it is released with the engine. `exporter` overrides the
    tracing exporter setting (the benches trace nothing). `pool_timeout`: how long a
    transaction may wait for a free connection (short for the API, which answers 503 then;
    long for workers, whose jobs would otherwise fail under a burst). `pre_ping`: test
    pooled connections at checkout (the API's, see `adapters.database.create_engine`)."""
    setup_tracing(
        exporter or settings.otel_exporter, endpoint=settings.otel_endpoint, service=service
    )
    if database is None:
        database = await asyncio.to_thread(open_database, settings)
    engine = build_engine(settings, database, pool_timeout=pool_timeout, pre_ping=pre_ping)
    classifier = asyncio.create_task(keep_fitted(engine.db))  # people's choices teach it
    # earlier candidates' features and outcomes teach the quality prediction
    quality = asyncio.create_task(quality_fit.keep_fitted(engine.learning.outcomes))
    # what runs recalled and whether they then completed teach the memory ranker
    ranker = asyncio.create_task(keep_ranker_fitted(engine.db))
    try:
        async with recording(engine.learning, engine.db, engine.events, engine.models):
            yield engine
    finally:
        for task in (classifier, quality, ranker):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await engine.close()
