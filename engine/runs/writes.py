"""The named writes of a run transaction: each is one statement on the caller's connection,
so a change to a run composes them inside the kernel's single transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.runs.tasks import FINISHED, TaskView
from engine.tables import artifacts, decisions, incidents, runs, step_events, steps


async def add_event(
    conn: AsyncConnection,
    run_id: UUID,
    task_id: UUID | None,
    element_id: str | None,
    event: str,
    detail: dict[str, Any],
) -> None:
    """Append one event to the run's history."""
    await conn.execute(
        step_events.insert().values(
            run_id=run_id, task_id=task_id, element_id=element_id, event=event, detail=detail
        )
    )


async def record_task_changes(
    conn: AsyncConnection,
    run_id: UUID,
    changed: list[TaskView],
    now: datetime,
    params: dict[UUID, dict[str, Any] | None],
) -> None:
    """Record tasks' new states: their step rows (created when first seen; a waiting service
    task with its stored parameters) and one event each, in two statements."""
    if not changed:
        return
    rows = [
        {
            "task_id": view.task_id,
            "run_id": run_id,
            "element_id": view.element_id,
            "name": view.name,
            "process_id": view.process_id,
            "kind": view.kind,
            "operator": view.operator,
            "state": view.state,
            "params": params.get(view.task_id),
            "started_at": now,
            "finished_at": now if view.state in FINISHED else None,
        }
        for view in changed
    ]
    # one statement shape whatever the number of rows (SQLAlchemy sends them as one
    # multi-row INSERT): compiled once per process, not once per row count
    new = insert(steps)
    await conn.execute(
        new.on_conflict_do_update(
            index_elements=[steps.c.task_id],
            set_={
                "state": new.excluded.state,
                "finished_at": new.excluded.finished_at,
                "params": func.coalesce(new.excluded.params, steps.c.params),
            },
        ),
        rows,
    )
    await conn.execute(
        step_events.insert(),
        [
            {
                "run_id": run_id,
                "task_id": view.task_id,
                "element_id": view.element_id,
                "event": view.state,
                "detail": {"name": view.name, "kind": view.kind, "process": view.process_id},
            }
            for view in changed
        ],
    )


async def record_step_result(
    conn: AsyncConnection,
    task_id: UUID,
    result: dict[str, Any],
    *,
    attempts: int,
    duration_ms: float,
    tokens_in: int,
    tokens_out: int,
) -> None:
    """Store an operator's result with its cost on the step row."""
    await conn.execute(
        update(steps)
        .where(steps.c.task_id == task_id)
        .values(
            result=result,
            attempts=attempts,
            error=None,
            duration_ms=duration_ms,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )
    )


async def record_step_error(
    conn: AsyncConnection, task_id: UUID, *, attempts: int, message: str
) -> None:
    """Note a failed attempt on the step row."""
    await conn.execute(
        update(steps).where(steps.c.task_id == task_id).values(attempts=attempts, error=message)
    )


async def set_user_answer(conn: AsyncConnection, task_id: UUID, data: dict[str, Any]) -> None:
    """Store a person's answer as the step's result."""
    await conn.execute(update(steps).where(steps.c.task_id == task_id).values(result=data))


async def set_run_fields(conn: AsyncConnection, run_id: UUID, **values: Any) -> None:
    """Set columns of the run row that a step declared (outcome, task type)."""
    await conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


async def mark_artifacts(
    conn: AsyncConnection, run_id: UUID, ids: list[UUID], *, final: bool = False
) -> None:
    """Mark the artifacts a completed step referenced as applied (and final, for run.finish)."""
    if not ids:
        return
    values = {"applied": True, "final": True} if final else {"applied": True}
    await conn.execute(
        update(artifacts)
        .where(artifacts.c.run_id == run_id, artifacts.c.id.in_(ids))
        .values(**values)
    )


async def record_decision(
    conn: AsyncConnection,
    run_id: UUID,
    task_id: UUID,
    element_id: str,
    operator: str,
    result: dict[str, Any],
) -> None:
    """Store a decision operator's choice with its evidence (once per task)."""
    await conn.execute(
        insert(decisions)
        .values(
            run_id=run_id,
            task_id=task_id,
            element_id=element_id,
            operator=operator,
            choice=str(result.get("choice")),
            confidence=result.get("confidence"),
            evidence=result.get("evidence") or {},
        )
        .on_conflict_do_nothing()
    )


async def resolve_incidents_of(conn: AsyncConnection, task_id: UUID) -> None:
    """Resolve a task's open incidents (a duplicate job succeeded after one failed)."""
    await conn.execute(
        update(incidents)
        .where(incidents.c.task_id == task_id, incidents.c.status == "open")
        .values(status="resolved", resolved_at=datetime.now(UTC))
    )


async def resolve_incident(conn: AsyncConnection, incident_id: UUID) -> None:
    """Mark one incident resolved."""
    await conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id)
        .values(status="resolved", resolved_at=datetime.now(UTC))
    )


async def open_incident(
    conn: AsyncConnection,
    run_id: UUID,
    task_id: UUID,
    element_id: str,
    *,
    operator: str,
    message: str,
    attempts: int,
) -> None:
    """Open an incident on a step that failed for good."""
    await conn.execute(
        incidents.insert().values(
            id=uuid.uuid4(),
            run_id=run_id,
            task_id=task_id,
            element_id=element_id,
            operator=operator,
            message=message,
            status="open",
            attempts=attempts,
        )
    )
