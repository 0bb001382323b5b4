"""The worker process's composition root: `weavergen worker`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from engine.container import build_engine, open_database
from engine.jobs import build_app, run_worker
from engine.learning import LearningSpanProcessor, recording
from engine.settings import Settings
from engine.telemetry import setup_tracing

log = logging.getLogger(__name__)


async def serve_worker(settings: Settings, *, concurrency: int | None = None) -> None:
    """Run one worker process until it is cancelled or killed."""
    spans = LearningSpanProcessor()
    setup_tracing(
        settings.otel_exporter,
        endpoint=settings.otel_endpoint,
        service="weavergen-worker",
        processors=[spans],
    )
    database = await asyncio.to_thread(open_database, settings)
    engine = build_engine(settings, database)
    app = build_app(engine.conninfo, engine.runner, engine.runs)
    name = f"worker-{socket.gethostname()}-{os.getpid()}"
    log.info("%s started (concurrency %d)", name, concurrency or settings.worker_concurrency)
    try:
        async with recording(engine.learning, engine.db, spans):
            await run_worker(
                app,
                concurrency=concurrency or settings.worker_concurrency,
                stalled_after=settings.stalled_after_seconds,
                name=name,
            )
    finally:
        await engine.close()
