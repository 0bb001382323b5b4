"""The server process's composition root: `weavergen serve` (API plus in-process workers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from api.app import create_app
from api.tokens import TokenService
from engine.container import Database, build_engine
from engine.jobs.app import build_app, run_worker
from engine.learning.events import LearningEvents
from engine.settings import Settings
from engine.startup import started_engine

log = logging.getLogger(__name__)


class WorkerThread(threading.Thread):
    """A worker with its own event loop, so model calls never stall the API's loop."""

    def __init__(
        self, settings: Settings, database: Database, events: LearningEvents, index: int
    ) -> None:
        super().__init__(name=f"weavergen-worker-{index}", daemon=True)
        self.settings = settings
        self.database = database
        self.events = events  # drained by the server's recorder
        self.index = index
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        engine = build_engine(self.settings, self.database, pool_size=5, events=self.events)
        app = build_app(engine.conninfo, engine.runner, engine.runs)
        self._task = asyncio.current_task()
        try:
            await run_worker(
                app,
                concurrency=self.settings.worker_concurrency,
                stalled_after=self.settings.stalled_after_seconds,
                name=f"serve-{os.getpid()}-{self.index}",
            )
        except asyncio.CancelledError:
            pass
        finally:
            await engine.db.dispose()

    def stop(self) -> None:
        """Cancel the worker loop and wait for it."""
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self.join(timeout=15)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after a graceful stop, which would kill the process
    before it stops the workers and the embedded PostgreSQL; clear them so cleanup runs."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


async def ensure_cli_token(settings: Settings, tokens: TokenService) -> Path:
    """Write an admin token for the local CLI into the data dir once (mode 0600)."""
    path = settings.data_dir.resolve() / "cli-token"
    if not path.exists():
        token = await tokens.create(role="admin", name="local-cli")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
    return path


async def serve(settings: Settings) -> None:
    """Start database, diagrams, workers and the HTTP API; stop them all on exit."""
    async with started_engine(settings, service="weavergen") as engine:
        stored = await engine.catalog.sync_folder(settings.bpmn_dir)
        changed = [f"{d['diagram_id']} v{d['version']}" for d in stored if d.get("created")]
        log.info("diagrams from %s: %s", settings.bpmn_dir, ", ".join(changed) or "unchanged")
        token_path = await ensure_cli_token(settings, TokenService(engine.db))
        log.info("local CLI token: %s", token_path)
        workers = [
            WorkerThread(settings, engine.database, engine.events, i)
            for i in range(settings.workers)
        ]
        try:
            for worker in workers:
                worker.start()
            config = uvicorn.Config(
                create_app(engine),
                host=settings.host,
                port=settings.port,
                log_level="info",
                lifespan="off",
                # open live pages (server-sent events) must not hold up a stop forever
                timeout_graceful_shutdown=3,
            )
            print(
                f"WeaverGen serving on http://{settings.host}:{settings.port} "
                f"({settings.workers} in-process worker(s); API docs at /docs)",
                flush=True,
            )
            await _Server(config).serve()
        finally:  # before the recorder stops, so the workers' last events are recorded
            for worker in workers:
                await asyncio.to_thread(worker.stop)
