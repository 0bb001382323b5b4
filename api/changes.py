"""Run changes pushed by PostgreSQL: one `LISTEN weavergen_runs` connection per process,
fanned out to every open live stream (migration 0007 notifies on each run change).

A stream remembers the change number it last saw (`mark`) and `wait`s for a newer one; it
queries the database only when its run (or, for the runs list, any run) changed, so the
database's load grows with the changes, not with the number of open streams. While the
listening connection is down (a database restart), waits time out every
`FALLBACK_SECONDS` and streams poll until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

import psycopg

from adapters.database import libpq_url

log = logging.getLogger(__name__)
CHANNEL = "weavergen_runs"
FALLBACK_SECONDS = 1.0
REMEMBERED_RUNS = 100_000


class RunChanges:
    """Change numbers per run, advanced by notifications."""

    def __init__(self, database_url: str) -> None:
        self.url = libpq_url(database_url)
        self.seq = 0  # the number of the newest change of any run
        self._runs: OrderedDict[str, int] = OrderedDict()  # run id -> its newest change
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.live = False
        # counts the times notifications stopped: what was learned before a gap may be stale
        self.epoch = 0

    def mark(self, run_id: str | None = None) -> int:
        """The newest change number of `run_id` (of any run when None)."""
        if run_id is None:
            return self.seq
        return self._runs.get(run_id, 0)

    async def wait(self, since: int, run_id: str | None, timeout: float) -> int:
        """Until `run_id` (any run when None) changes after `since`, or `timeout`; returns
        the change number now. While notifications are not arriving, returns within
        `FALLBACK_SECONDS` so that the caller polls."""
        self._start()
        was_live = self.live
        limit = timeout if was_live else min(timeout, FALLBACK_SECONDS)
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(
                        lambda: self.mark(run_id) > since or self.live != was_live
                    ),
                    limit,
                )
        return self.mark(run_id)

    def touch(self, run_id: str) -> None:
        """This process changed the run: count it now rather than when its notification
        arrives, so that this process's next read of it is fresh."""
        self.seq += 1
        self._remember(run_id)

    def _remember(self, run_id: str) -> None:
        self._runs[run_id] = self.seq
        self._runs.move_to_end(run_id)
        if len(self._runs) > REMEMBERED_RUNS:
            self._runs.popitem(last=False)

    def start(self) -> None:
        """Listen, if not yet listening (also started by the first `wait`)."""
        self._start()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="run-changes")

    async def _listen(self) -> None:
        pause = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await self._set_live(True)
                    pause = 0.5
                    async for note in conn.notifies():
                        await self._changed_run(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: poll until it is back
                log.warning("run change notifications interrupted (%s); retrying", exc)
            await self._set_live(False)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)

    async def _changed_run(self, run_id: str) -> None:
        self.seq += 1
        self._remember(run_id)
        async with self._changed:
            self._changed.notify_all()

    async def _set_live(self, live: bool) -> None:
        if not live:
            self.epoch += 1
        self.live = live
        async with self._changed:
            self._changed.notify_all()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
