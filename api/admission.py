"""Admission control: a burst of new runs is answered "come back later", never "server error".

Starting a run is a transaction on the shared connection pool and about 10-30 ms of the
event loop's CPU. `Intake` lets `concurrency` starts run at once and `queue` more wait for a
turn; a start that finds the queue full, or waits longer than `max_wait` seconds, is
refused at once with 503 and `Retry-After`, before the pool runs dry for every other
request. A pool that does run dry anyway (or a database that is down) is a 503 too
(`api.app`), never a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import HTTPException, status


class Busy(HTTPException):
    """503 Service Unavailable with the seconds to wait in `Retry-After`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{message}; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class Intake:
    """A bounded waiting room in front of one kind of expensive request."""

    def __init__(self, *, concurrency: int, queue: int, max_wait: float = 5.0) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self.max_wait = max_wait
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting = 0
        self.refused = 0

    def retry_after(self) -> int:
        """Seconds a refused caller should wait: longer the fuller the queue is."""
        return 1 + self._waiting * 2 // max(self.queue, 1)

    @asynccontextmanager
    async def turn(self, what: str) -> AsyncIterator[None]:
        """Hold one of the slots for the block; `Busy` when none comes free soon enough."""
        if self._waiting >= self.queue:
            self.refused += 1
            raise Busy(f"too many {what} at once ({self._waiting} waiting)", self.retry_after())
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.max_wait)
        except TimeoutError:
            self.refused += 1
            raise Busy(f"too many {what} at once", self.retry_after()) from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()
