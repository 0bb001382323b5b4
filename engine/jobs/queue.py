"""The job queue: procrastinate on the run database, with jobs enqueued inside run transactions.

A step job is inserted in the same transaction that persists the run state which made the
step READY, so a crash can never leave a waiting step without its job, nor a job for a step
that was rolled back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from adapters.write_batch import WriteBatch

STEP_QUEUE = "steps"
RUN_STEP_TASK = "weavergen.run_step"
WAKE_RUN_TASK = "weavergen.wake_run"
START_RUN_TASK = "weavergen.start_run"
MAX_PRIORITY = 100_000  # wake-ups (due timers) go first; a step's priority is its run's progress

_DEFER_SQL = (
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(%s, %s, %s, NULL, NULL, "
    "CAST(%s AS jsonb), %s)::procrastinate_job_to_defer_v1])"
)


@dataclass(frozen=True)
class StepJob:
    """A job that runs the operator of one waiting service task."""

    run_id: UUID
    task_id: UUID


def enqueue_step(
    batch: WriteBatch, job: StepJob, *, at: datetime | None = None, priority: int = 0
) -> None:
    """Insert a step job in the caller's transaction; higher `priority` runs first."""
    args = {"run_id": str(job.run_id), "task_id": str(job.task_id)}
    _defer(batch, RUN_STEP_TASK, args, at, min(priority, MAX_PRIORITY))


def enqueue_start(batch: WriteBatch, run_id: UUID) -> None:
    """Queue the start of an accepted run (priority 0: after running runs' next steps)."""
    _defer(batch, START_RUN_TASK, {"run_id": str(run_id)}, None, 0)


def enqueue_wake(batch: WriteBatch, run_id: UUID, at: datetime) -> None:
    """Schedule a wake-up of a run (timers) in the caller's transaction."""
    _defer(batch, WAKE_RUN_TASK, {"run_id": str(run_id)}, at, MAX_PRIORITY)


def _defer(
    batch: WriteBatch, task: str, args: dict[str, Any], at: datetime | None, priority: int
) -> None:
    batch.add(_DEFER_SQL, (STEP_QUEUE, task, priority, json.dumps(args), at))
