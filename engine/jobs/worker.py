"""The worker process's composition root: `weavergen worker` on any machine, and each of the
worker children `weavergen serve` supervises (`python -m engine.jobs.worker`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import time

from engine.container import Engine
from engine.jobs.app import Unacknowledged, build_app, run_worker
from engine.jobs.heartbeat import ThreadHeartbeat
from engine.settings import Settings
from engine.startup import started_engine
from engine.telemetry import configure_logging

log = logging.getLogger(__name__)
WORKER_POOL_TIMEOUT = 120.0
RECONNECT_RESET_S = 60.0  # a worker that ran this long reconnects after a short pause again


def warm(engine: Engine) -> None:
    """Import and build what the first step would otherwise pay for: LiteLLM and its router,
    the prompt templates. Blocking; run it in a thread. (The sandbox's fork servers are
    started beside it, from the event loop: `ValidationMesh.warm`.)"""
    engine.models.warm()
    engine.prompts.warm()


async def _warm_in_order(engine: Engine) -> None:
    """What a first run needs first, first: its first steps call a model (LiteLLM), its
    validation comes later (the sandbox's fork servers)."""
    await asyncio.to_thread(warm, engine)
    await engine.services.validation.warm()


async def serve_worker(
    settings: Settings, *, concurrency: int | None = None, name: str | None = None
) -> None:
    """Run one worker process until it is cancelled or killed."""
    # thousands of jobs at once share the pool: a job waits for a connection rather than fail
    async with started_engine(
        settings, service="weavergen-worker", pool_timeout=WORKER_POOL_TIMEOUT
    ) as engine:
        # what sandbox users killed on this machine left (mounts, work dirs, cgroups)
        await asyncio.to_thread(engine.services.validation.sandbox.sweep)
        # warmed beside the job loop: the first model call waits for it, nothing else does
        warming = asyncio.create_task(_warm_in_order(engine))
        ledger = Unacknowledged()
        heartbeat = ThreadHeartbeat(
            engine.conninfo,
            every=max(settings.stalled_after_seconds / 4, 1),
            stuck_after=settings.loop_stuck_seconds,
        )
        heartbeat.start()
        app = build_app(engine.conninfo, engine.runner, engine.runs, ledger, heartbeat)
        name = name or f"worker-{socket.gethostname()}-{os.getpid()}"
        concurrency = concurrency or settings.worker_concurrency
        log.info("%s started (concurrency %d)", name, concurrency)
        pause = 1.0
        try:
            while True:  # until cancelled: a lost database is waited for, not fatal
                started = time.monotonic()
                try:
                    await run_worker(
                        app,
                        concurrency=concurrency,
                        stalled_after=settings.stalled_after_seconds,
                        name=name,
                        ledger=ledger,
                        heartbeat=heartbeat,
                    )
                    reason = "the queue stopped"
                except Exception as exc:  # the database restarting, a dropped connection
                    reason = f"{type(exc).__name__}: {exc}"
                if time.monotonic() - started > RECONNECT_RESET_S:
                    pause = 1.0
                log.warning("%s lost the queue (%s); reconnecting in %.0f s", name, reason, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
        finally:
            heartbeat.stop()
            await asyncio.gather(warming, return_exceptions=True)


async def run_until_signalled(
    settings: Settings, *, concurrency: int | None = None, name: str | None = None
) -> None:
    """`serve_worker` until SIGTERM or SIGINT, then a clean stop (jobs handed back)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serve_worker(settings, concurrency=concurrency, name=name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.jobs.worker")
    parser.add_argument("--index", type=int, default=0, help="which of the server's workers")
    args = parser.parse_args()
    configure_logging()
    name = f"serve-{os.getppid()}-{args.index}"
    asyncio.run(run_until_signalled(Settings(), name=name))


if __name__ == "__main__":
    main()
