"""The buffered sender shared by the learning stores that write to a server of their own.

Writes never wait for the server and never raise. A store's `record_*` encodes its record and
hands it to `_enqueue`, which appends it to a bounded buffer and returns; a background task
(started on first use, in the event loop that uses the store) sends batches every
`flush_interval` seconds, or at once when `batch_size` records wait. A batch being sent is
held apart from the buffer until the server answers: delivered, it is gone; refused for now,
it goes back to the front, oldest first. After a failed send the task waits longer each time
(doubling from `flush_interval`, up to `max_backoff` seconds) and does not hurry for full
batches until a send succeeds again.

Nothing is lost silently. When the buffer holds more than `buffer_size` records the oldest
are dropped; so are records the server refuses for good, records still unsent at `close()`
and records that arrive after it. Each is counted in `health().dropped`, and logged as an
error with "LEARNING DATA LOST" (at once the first time and whenever a whole batch or the
buffer at close is lost; otherwise at most every 10 seconds, so a flood does not flood the
log). Failed sends are logged as warnings on the same terms.

How to extend: subclass `BufferedStore[Item]` (one `Item` is one encoded record), set the class
attributes `backend`, `server` and `unit`, call `__init__` with the server's address, and
implement `_send_batch` (deliver the batch, or raise `SendFailed` to keep it) and
`_close_backend`. Queries report through `_query_ok()` and `raise self._query_failed(...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from adapters.learning.contract import LearningUnavailable, StoreHealth

Item = TypeVar("Item")

_LOG_EVERY_S = 10.0  # repeated drop or failure messages: at most one per this many seconds


class SendFailed(Exception):
    """The server could not take a batch now; it is kept and sent again after a backoff.

    `retry` names what is kept when that is not the whole batch (the rest was delivered, or
    counted as dropped by the store). The message names the server and says what went wrong.
    """

    def __init__(self, message: str, retry: Sequence[object] | None = None) -> None:
        super().__init__(message)
        self.retry = retry


class BufferedStore(ABC, Generic[Item]):
    """A learning store that buffers its writes and sends them in the background; see the
    module docstring. The timing settings are plain attributes, read at each use."""

    backend: ClassVar[str]  # `StoreHealth.backend`, e.g. "influxdb"
    server: ClassVar[str]  # the server's name in messages, e.g. "InfluxDB"
    unit: ClassVar[str] = "records"  # what one item is called in messages

    def __init__(
        self,
        address: str,
        *,
        buffer_size: int,
        batch_size: int,
        flush_interval: float,
        flush_timeout: float,
        max_backoff: float,
    ) -> None:
        if buffer_size < 1 or batch_size < 1 or flush_interval <= 0:
            raise ValueError("buffer_size and batch_size must be >= 1, flush_interval > 0")
        self.buffer_size = buffer_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.flush_timeout = flush_timeout
        self.max_backoff = max_backoff
        self._where = f"{self.server} at {address}"
        self._log = logging.getLogger(type(self).__module__)  # each store logs as its module
        self._buffer: deque[Item] = deque()  # oldest first
        self._inflight: list[Item] = []  # the batch being sent
        self._dropped = 0
        self._failures = 0  # failed sends in a row
        self._write_error: str | None = None
        self._query_error: str | None = None
        self._drop_note: str | None = None  # why records were lost (kept after recovery)
        self._last_log: dict[str, float] = {}
        self._closed = False
        self._send_lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None

    @abstractmethod
    async def _send_batch(self, batch: list[Item]) -> None:
        """Deliver `batch`, oldest first. Raise `SendFailed` when the server cannot take it
        now; count records it refuses for good with `_count_dropped`. Any other exception is
        a bug: the batch is kept and the traceback logged."""

    @abstractmethod
    async def _close_backend(self) -> None:
        """Close the client or driver (called once, by `close()`, after the last send)."""

    # ---- what every store answers -------------------------------------------------------

    async def flush(self) -> None:
        """Send what is buffered now: two tries at most (the first can meet a connection the
        server has since closed), within `flush_timeout` seconds. Never raises; what could
        not be sent stays buffered for the background sender."""
        if not self._pending():
            return
        try:
            async with asyncio.timeout(self.flush_timeout):
                for _ in range(2):
                    if await self._send_all():
                        break
        except TimeoutError:
            self._write_failed(
                f"flush to {self._where} gave up after {self.flush_timeout:g} s"
                f" with {self._pending()} {self.unit} buffered"
            )

    async def close(self) -> None:
        """Flush, stop the background sender and close the connection. Records that could
        not be delivered are counted as dropped."""
        if self._closed:
            return
        await self.flush()
        self._closed = True
        sender, self._sender = self._sender, None
        if sender is not None and not sender.done():
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        left = self._pending()
        if left:
            self._buffer.clear()
            self._inflight = []
            self._count_dropped(left, f"{self._where} did not take them before close", always=True)
        await self._close_backend()

    def health(self) -> StoreHealth:
        """What is buffered and lost, and the latest error (a failing write or query first,
        else why records were lost)."""
        return StoreHealth(
            backend=self.backend,
            healthy=self._write_error is None and self._query_error is None,
            buffered=self._pending(),
            dropped=self._dropped,
            last_error=self._write_error or self._query_error or self._drop_note,
        )

    # ---- the buffer ---------------------------------------------------------------------

    def _pending(self) -> int:
        return len(self._buffer) + len(self._inflight)

    def _enqueue(self, item: Item) -> None:
        """Buffer one encoded record for the background sender; never waits, never raises."""
        if self._closed:
            self._count_dropped(1, "the store is closed")
            return
        self._buffer.append(item)
        self._trim()
        self._ensure_sender()
        if self._wake is not None and len(self._buffer) >= self.batch_size and not self._failures:
            self._wake.set()

    def _put_back(self, items: Sequence[Item]) -> None:
        """Return records that were being sent to the front of the buffer, oldest first."""
        self._inflight = []
        self._buffer.extendleft(reversed(items))
        self._trim()

    def _trim(self) -> None:
        over = len(self._buffer) - self.buffer_size
        if over > 0:
            for _ in range(over):
                self._buffer.popleft()
            self._count_dropped(over, f"the buffer is full ({self.buffer_size} {self.unit})")

    def _count_dropped(self, n: int, why: str, *, always: bool = False) -> None:
        """Count `n` lost records and log it as an error (at most every 10 s unless `always`
        or the first loss)."""
        self._dropped += n
        self._drop_note = f"{self._dropped} {self.unit} dropped; last: {n} because {why}"
        if always or self._dropped == n or self._due("drop"):
            self._log.error(
                "LEARNING DATA LOST: dropped %d %s for %s because %s"
                " (%d dropped so far; last error: %s)",
                n,
                self.unit,
                self._where,
                why,
                self._dropped,
                self._write_error,
            )

    def _due(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last_log.get(key, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._last_log[key] = now
            return True
        return False

    # ---- sending ------------------------------------------------------------------------

    def _ensure_sender(self) -> None:
        if self._sender is not None and not self._sender.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next flush() sends
            return
        self._wake = asyncio.Event()
        self._sender = loop.create_task(
            self._send_loop(self._wake), name=f"{self.backend}-learning-sender"
        )

    def _delay(self) -> float:
        """Seconds until the next send: `flush_interval`, doubled per failed send in a row up
        to `max_backoff` (never below `flush_interval`)."""
        if not self._failures:
            return self.flush_interval
        exponent = min(self._failures, 16)  # a long outage must not overflow
        longest = max(self.flush_interval, self.max_backoff)
        return min(longest, self.flush_interval * 2**exponent)

    async def _send_loop(self, wake: asyncio.Event) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._delay()):
                    await wake.wait()
            wake.clear()
            if self._buffer and not self._closed:
                await self._send_all()

    async def _send_all(self) -> bool:
        """Send batches until the buffer is empty; False at the first failed send."""
        async with self._send_lock:
            while self._buffer:
                if not await self._send_next():
                    return False
            return True

    async def _send_next(self) -> bool:
        """Send the oldest batch; True when the server took it (or refused parts for good)."""
        batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
        self._inflight = batch
        try:
            await self._send_batch(batch)
        except SendFailed as failed:
            if failed.retry is None:
                self._put_back(batch)
            else:
                kept = {id(item) for item in failed.retry}
                self._put_back([item for item in batch if id(item) in kept])
            return self._write_failed(str(failed))
        except Exception as exc:  # a bug in a store: keep the records, keep the sender alive
            self._put_back(batch)
            self._log.exception("sending learning %s to %s failed", self.unit, self._where)
            return self._write_failed(f"sending to {self._where} failed: {exc!r}")
        except BaseException:  # cancelled (flush timeout, close): keep the records
            self._put_back(batch)
            raise
        self._inflight = []
        self._write_ok()
        return True

    def _write_ok(self) -> None:
        if self._failures:
            self._log.warning(
                "%s is reachable again after %d failed sends; %d %s buffered",
                self._where,
                self._failures,
                self._pending(),
                self.unit,
            )
        self._failures = 0
        self._write_error = None
        self._query_error = None  # the server answers again

    def _write_failed(self, message: str) -> bool:
        self._failures += 1
        self._write_error = message
        if self._failures == 1 or self._due("write"):
            self._log.warning(
                "%s (%d %s buffered, will retry)", message, self._pending(), self.unit
            )
        return False

    # ---- queries ------------------------------------------------------------------------

    def _query_ok(self) -> None:
        """A query was answered; with nothing waiting to be sent, the server is well again."""
        self._query_error = None
        if not self._pending():
            self._write_ok()

    def _query_failed(self, message: str) -> LearningUnavailable:
        """Note a query the server could not answer; returns the error to raise."""
        self._query_error = message
        return LearningUnavailable(message)
