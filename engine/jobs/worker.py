"""The worker process's composition root: `weavergen worker`."""

from __future__ import annotations

import logging
import os
import socket

from engine.jobs.app import build_app, run_worker
from engine.settings import Settings
from engine.startup import started_engine

log = logging.getLogger(__name__)


async def serve_worker(settings: Settings, *, concurrency: int | None = None) -> None:
    """Run one worker process until it is cancelled or killed."""
    async with started_engine(settings, service="weavergen-worker") as engine:
        app = build_app(engine.conninfo, engine.runner, engine.runs)
        name = f"worker-{socket.gethostname()}-{os.getpid()}"
        concurrency = concurrency or settings.worker_concurrency
        log.info("%s started (concurrency %d)", name, concurrency)
        await run_worker(
            app, concurrency=concurrency, stalled_after=settings.stalled_after_seconds, name=name
        )
