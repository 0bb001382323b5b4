"""Learning events: what finished steps and runs report to the learning recorder.

The step runner and the run kernel emit typed events here; the recorder (an asyncio task per
process) drains them into the learning stores. OpenTelemetry spans carry the same facts for
tracing, but learning never parses spans back.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from uuid import UUID

from adapters.learning import StepOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepFinished:
    """A step's operator finished, well or not: what it cost and how it went."""

    outcome: StepOutcome


@dataclass(frozen=True)
class RunFinished:
    """A run reached `completed` or `failed` (recorded after its transaction committed)."""

    run_id: UUID
    pattern: str
    status: str
    duration_ms: float


LearningEvent = StepFinished | RunFinished


class LearningEvents:
    """The queue between emitters (any thread) and the recorder: bounded, never blocks."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self._queue: queue.Queue[LearningEvent] = queue.Queue(maxsize)
        self.dropped = 0
        self._warned_at = 0.0

    def emit(self, event: LearningEvent) -> None:
        """Queue an event; when the recorder has fallen far behind, drop it and count it."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("learning events LOST: %d dropped so far (queue full)", self.dropped)

    def take(self) -> LearningEvent | None:
        """The oldest queued event, or None."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None
