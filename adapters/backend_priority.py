"""The database work a process asks for, at that process's CPU priority.

Workers run at a lower CPU priority than the API (`nice`), but the PostgreSQL backends
serving them would not: under load their statements would compete with the API's on equal
terms. Where PostgreSQL runs on this machine and its backends are ours to renice (the
embedded default, or any local server the process may signal), each new connection's
backend takes the process's own niceness. Elsewhere (a remote server, a container, another
user's server) nothing changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

log = logging.getLogger(__name__)
QUERY = "SELECT pg_backend_pid(), current_setting('data_directory')"


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def renice_backend(pid: int, data_directory: str, niceness: int) -> bool:
    """Give backend `pid` this niceness if it is a process of this machine's server: its
    working directory is the server's data directory (a pid from another machine or
    namespace is some other process, or none). True when it was changed."""
    try:
        if os.path.realpath(f"/proc/{pid}/cwd") != os.path.realpath(data_directory):
            return False
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError as exc:  # not ours to renice, or gone: leave it
        log.debug("backend %s keeps its priority: %s", pid, exc)
        return False
    return True


def on_connect(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy `connect` event: renice the new connection's backend (when we are niced)."""
    niceness = own_niceness()
    if niceness <= 0:
        return
    with contextlib.suppress(Exception):  # e.g. no permission to read data_directory
        cursor = dbapi_connection.cursor()
        cursor.execute(QUERY)
        pid, data_directory = cursor.fetchone()
        cursor.close()
        renice_backend(int(pid), str(data_directory), niceness)
    dbapi_connection.rollback()


async def configure(connection: Any) -> None:
    """psycopg_pool `configure` hook (the job queue's pool): as `on_connect`."""
    niceness = own_niceness()
    if niceness <= 0:
        return
    with contextlib.suppress(Exception):
        async with connection.cursor() as cursor:
            await cursor.execute(QUERY)
            row = await cursor.fetchone()
        if row is not None:
            renice_backend(int(row[0]), str(row[1]), niceness)
    await connection.rollback()
