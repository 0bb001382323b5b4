"""Heartbeats from a thread: a worker whose event loop is busy is not a dead worker.

procrastinate sends a worker's heartbeat from its event loop, so an operator that holds the
loop (a long CPU-bound call, a blocking library) stops the heartbeats, and after
`stalled_after` seconds another worker takes the step again: two runs of one step. This
thread sends the same heartbeat for the worker ids this process's jobs ran under, on its
own connection, whatever the loop does; it stops when the loop has not turned for
`stuck_after` seconds (a loop that never comes back is a dead worker after all).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import psycopg

log = logging.getLogger(__name__)
_BEAT = "UPDATE procrastinate_workers SET last_heartbeat = now() WHERE id = ANY(%s)"


class ThreadHeartbeat:
    """Keeps the heartbeat of this process's workers while its event loop turns at all."""

    def __init__(self, conninfo: str, *, every: float, stuck_after: float) -> None:
        self.conninfo = conninfo
        self.every = every
        self.stuck_after = stuck_after
        self._ids: set[int] = set()
        self._turned = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def watch(self, worker_id: int | None) -> None:
        """Beat for this worker id too (the id a job was fetched under)."""
        if worker_id is not None:
            self._ids.add(worker_id)

    def forget(self) -> None:
        """The worker reconnected under a new id: the old ones are not ours to keep."""
        self._ids = set()

    async def turning(self) -> None:
        """Forever, on the event loop: note that the loop still turns."""
        while True:
            self._turned = time.monotonic()
            await asyncio.sleep(min(self.every, 1.0))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        stuck_reported = False
        while not self._stop.wait(self.every):
            ids = list(self._ids)
            held = time.monotonic() - self._turned
            if held > self.stuck_after:
                if not stuck_reported:
                    log.error("event loop held for %.0f s: heartbeats stop", held)
                    stuck_reported = True
                continue
            stuck_reported = False
            if not ids:
                continue
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
                conn.execute(_BEAT, (ids,))
            except psycopg.Error as exc:  # the database is away: the next beat tries again
                log.debug("heartbeat not sent: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
