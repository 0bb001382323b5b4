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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

STEP_QUEUE = "steps"
RUN_STEP_TASK = "weavergen.run_step"
WAKE_RUN_TASK = "weavergen.wake_run"
START_RUN_TASK = "weavergen.start_run"
MAX_PRIORITY = 100_000  # wake-ups (due timers) go first; a step's priority is its run's progress

_DEFER_SQL = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, NULL, NULL, "
    "CAST(:args AS jsonb), :at)::procrastinate_job_to_defer_v1])"
)


@dataclass(frozen=True)
class StepJob:
    """A job that runs the operator of one waiting service task."""

    run_id: UUID
    task_id: UUID


async def enqueue_step(
    conn: AsyncConnection, job: StepJob, *, at: datetime | None = None, priority: int = 0
) -> None:
    """Insert a step job in the caller's transaction; higher `priority` runs first."""
    args = {"run_id": str(job.run_id), "task_id": str(job.task_id)}
    await _defer(conn, RUN_STEP_TASK, args, at, min(priority, MAX_PRIORITY))


async def enqueue_start(conn: AsyncConnection, run_id: UUID) -> None:
    """Queue the start of an accepted run (priority 0: after running runs' next steps)."""
    await _defer(conn, START_RUN_TASK, {"run_id": str(run_id)}, None, 0)


async def enqueue_wake(conn: AsyncConnection, run_id: UUID, at: datetime) -> None:
    """Schedule a wake-up of a run (timers) in the caller's transaction."""
    await _defer(conn, WAKE_RUN_TASK, {"run_id": str(run_id)}, at, MAX_PRIORITY)


async def _defer(
    conn: AsyncConnection, task: str, args: dict[str, Any], at: datetime | None, priority: int
) -> None:
    await conn.execute(
        _DEFER_SQL,
        {
            "queue": STEP_QUEUE,
            "task": task,
            "priority": priority,
            "args": json.dumps(args),
            "at": at,
        },
    )
