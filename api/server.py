"""The server process's composition root: `weavergen serve` — the HTTP API in this process,
the workers as supervised child processes (`engine.jobs.supervisor`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from api.app import create_app
from api.model_server import EMBEDDED_ENV, start_embedded, stop_embedded
from api.tokens import TokenService
from engine.jobs.supervisor import WorkerSupervisor
from engine.settings import Settings
from engine.startup import started_engine

log = logging.getLogger(__name__)


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
    local, models_file = await start_embedded(settings)
    if models_file is not None and local is not None:  # the workers read them from the env
        settings = settings.model_copy(update={"models_file": models_file})
        os.environ["WEAVERGEN_MODELS"] = str(models_file)
        os.environ[EMBEDDED_ENV] = local.url
    try:
        await _serve(settings)
    finally:
        await stop_embedded(local, settings)


async def _serve(settings: Settings) -> None:
    # pre-ping: after a database restart no request meets a connection the server dropped
    async with started_engine(settings, service="weavergen", pre_ping=True) as engine:
        stored = await engine.catalog.sync_folder(settings.bpmn_dir)
        changed = [f"{d['diagram_id']} v{d['version']}" for d in stored if d.get("created")]
        log.info("diagrams from %s: %s", settings.bpmn_dir, ", ".join(changed) or "unchanged")
        token_path = await ensure_cli_token(settings, TokenService(engine.db))
        log.info("local CLI token: %s", token_path)
        workers = WorkerSupervisor(
            settings.workers,
            database_url=engine.database.url,
            concurrency=settings.worker_concurrency,
        )
        web = None
        embedded = engine.database.embedded
        # the embedded PostgreSQL is ours to keep up: restarted when it dies
        keeper = (
            asyncio.create_task(embedded.keep_up(on_restart=engine.db.dispose))
            if embedded is not None
            else None
        )
        try:
            workers.start()
            web = create_app(engine)
            web.state.workers = workers
            config = uvicorn.Config(
                web,
                host=settings.host,
                port=settings.port,
                log_level="info",
                lifespan="off",
                # open live pages (server-sent events) must not hold up a stop forever
                timeout_graceful_shutdown=3,
            )
            print(
                f"WeaverGen serving on http://{settings.host}:{settings.port} "
                f"({settings.workers} worker process(es); API docs at /docs)",
                flush=True,
            )
            await _Server(config).serve()
        finally:  # before the database stops, so the workers hand their jobs back
            if keeper is not None:
                keeper.cancel()
            await workers.stop()
            if web is not None:
                await web.state.tokens.write_last_used()
                await web.state.changes.close()
