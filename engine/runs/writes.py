"""The named writes of a run transaction, queued on a `WriteBatch` and sent together.

A change to a run composes these inside the kernel's one transaction; none of them returns
anything, so the batch sends them all in one psycopg pipeline just before the commit (one
round trip instead of one per statement). Reads never go through the batch: they run on the
transaction's connection as they are needed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Json, Jsonb

from adapters.write_batch import WriteBatch
from engine.runs.tasks import FINISHED, TaskView

_EVENT = (
    "INSERT INTO step_events (run_id, task_id, element_id, event, detail) "
    "VALUES (%s, %s, %s, %s, %s)"
)
# a step row is created when its task is first seen and its state follows the task's
_STEP = (
    "INSERT INTO steps (task_id, run_id, element_id, name, process_id, kind, operator, state, "
    "params, started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, "
    "finished_at = excluded.finished_at, params = coalesce(excluded.params, steps.params)"
)
_RESULT = (
    "UPDATE steps SET result = %s, attempts = %s, error = NULL, duration_ms = %s, "
    "tokens_in = %s, tokens_out = %s WHERE task_id = %s"
)
_DECISION = (
    "INSERT INTO decisions (run_id, task_id, element_id, operator, choice, confidence, evidence) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
_INCIDENT = (
    "INSERT INTO incidents (id, run_id, task_id, element_id, operator, message, status, attempts) "
    "VALUES (%s, %s, %s, %s, %s, %s, 'open', %s)"
)
# the run's own columns a step may declare
_RUN_FIELDS = {
    "outcome": "UPDATE runs SET outcome = %s WHERE id = %s",
    "task_type": "UPDATE runs SET task_type = %s WHERE id = %s",
}
_APPLIED = "UPDATE artifacts SET applied = true WHERE run_id = %s AND id = ANY(%s)"
_FINAL = "UPDATE artifacts SET applied = true, final = true WHERE run_id = %s AND id = ANY(%s)"


def add_event(
    batch: WriteBatch,
    run_id: UUID,
    task_id: UUID | None,
    element_id: str | None,
    event: str,
    detail: dict[str, Any],
) -> None:
    """Append one event to the run's history."""
    batch.add(_EVENT, (run_id, task_id, element_id, event, Jsonb(detail)))


def record_task_changes(
    batch: WriteBatch,
    run_id: UUID,
    changed: list[TaskView],
    now: datetime,
    params: dict[UUID, dict[str, Any] | None],
) -> None:
    """Record tasks' new states: their step rows (created when first seen; a waiting service
    task with its stored parameters) and one event each."""
    batch.add_many(
        _STEP,
        (
            (
                view.task_id,
                run_id,
                view.element_id,
                view.name,
                view.process_id,
                view.kind,
                view.operator,
                view.state,
                None if (p := params.get(view.task_id)) is None else Jsonb(p),
                now,
                now if view.state in FINISHED else None,
            )
            for view in changed
        ),
    )
    batch.add_many(
        _EVENT,
        (
            (
                run_id,
                view.task_id,
                view.element_id,
                view.state,
                Jsonb({"name": view.name, "kind": view.kind, "process": view.process_id}),
            )
            for view in changed
        ),
    )


def record_step_result(
    batch: WriteBatch,
    task_id: UUID,
    result: dict[str, Any],
    *,
    attempts: int,
    duration_ms: float,
    tokens_in: int,
    tokens_out: int,
) -> None:
    """Store an operator's result with its cost on the step row."""
    batch.add(_RESULT, (Jsonb(result), attempts, duration_ms, tokens_in, tokens_out, task_id))


def record_step_error(batch: WriteBatch, task_id: UUID, *, attempts: int, message: str) -> None:
    """Note a failed attempt on the step row."""
    batch.add(
        "UPDATE steps SET attempts = %s, error = %s WHERE task_id = %s",
        (attempts, message, task_id),
    )


def set_user_answer(batch: WriteBatch, task_id: UUID, data: dict[str, Any]) -> None:
    """Store a person's answer as the step's result."""
    batch.add("UPDATE steps SET result = %s WHERE task_id = %s", (Jsonb(data), task_id))


def set_run_fields(batch: WriteBatch, run_id: UUID, **values: str) -> None:
    """Set columns of the run row that a step declared (outcome, task type)."""
    for name, value in values.items():
        batch.add(_RUN_FIELDS[name], (value, run_id))


def mark_artifacts(
    batch: WriteBatch, run_id: UUID, ids: list[UUID], *, final: bool = False
) -> None:
    """Mark the artifacts a completed step referenced as applied (and final, for run.finish)."""
    if ids:
        batch.add(_FINAL if final else _APPLIED, (run_id, ids))


def record_decision(
    batch: WriteBatch,
    run_id: UUID,
    task_id: UUID,
    element_id: str,
    operator: str,
    result: dict[str, Any],
) -> None:
    """Store a decision operator's choice with its evidence (once per task)."""
    confidence = result.get("confidence")
    batch.add(
        _DECISION,
        (
            run_id,
            task_id,
            element_id,
            operator,
            str(result.get("choice")),
            float(confidence) if isinstance(confidence, int | float) else None,
            Jsonb(result.get("evidence") or {}),
        ),
    )


def resolve_incidents_of(batch: WriteBatch, task_id: UUID) -> None:
    """Resolve a task's open incidents (a duplicate job succeeded after one failed)."""
    batch.add(
        "UPDATE incidents SET status = 'resolved', resolved_at = %s "
        "WHERE task_id = %s AND status = 'open'",
        (datetime.now(UTC), task_id),
    )


def resolve_run_incidents(batch: WriteBatch, run_id: UUID) -> None:
    """Resolve every open incident of a run (it was cancelled)."""
    batch.add(
        "UPDATE incidents SET status = 'resolved', resolved_at = %s "
        "WHERE run_id = %s AND status = 'open'",
        (datetime.now(UTC), run_id),
    )


def resolve_incident(batch: WriteBatch, incident_id: UUID) -> None:
    """Mark one incident resolved."""
    batch.add(
        "UPDATE incidents SET status = 'resolved', resolved_at = %s WHERE id = %s",
        (datetime.now(UTC), incident_id),
    )


def open_incident(
    batch: WriteBatch,
    run_id: UUID,
    task_id: UUID,
    element_id: str,
    *,
    operator: str,
    message: str,
    attempts: int,
) -> None:
    """Open an incident on a step that failed for good."""
    batch.add(_INCIDENT, (uuid.uuid4(), run_id, task_id, element_id, operator, message, attempts))


def save_state(
    batch: WriteBatch,
    row: Any,
    *,
    state: dict[str, Any],
    state_format: int,
    status: str,
    pattern: str | None,
    error: str | None,
    tokens: tuple[int, int],
    finished: bool,
) -> None:
    """Store the run's new state and status, if the run is still at the version read under
    its lock (the lock makes any other version impossible; checked all the same)."""
    batch.add_checked(
        "UPDATE runs SET state = %s, state_format = %s, status = %s, pattern = %s, error = %s, "
        "lock_version = lock_version + 1, tokens_in = tokens_in + %s, "
        "tokens_out = tokens_out + %s, updated_at = now(), "
        "finished_at = CASE WHEN %s THEN now() END "
        "WHERE id = %s AND lock_version = %s",
        (
            Json(state),
            state_format,
            status,
            pattern,
            error,
            tokens[0],
            tokens[1],
            finished,
            row["id"],
            row["lock_version"],
        ),
        f"run {row['id']} changed concurrently; try again",
    )


def insert_run(
    batch: WriteBatch,
    run_id: UUID,
    *,
    diagram_version_id: int,
    entry: str,
    spec_versions: dict[str, int],
    pattern: str | None,
    task_type: str,
    request: dict[str, Any],
    state: dict[str, Any],
    state_format: int,
    created_by: str | None,
) -> None:
    """A new run, running."""
    batch.add(
        "INSERT INTO runs (id, diagram_version_id, entry, spec_versions, pattern, task_type, "
        "request, status, state, state_format, created_by) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, 'running', %s, %s, %s)",
        (
            run_id,
            diagram_version_id,
            entry,
            Jsonb(spec_versions),
            pattern,
            task_type,
            Jsonb(request),
            Json(state),
            state_format,
            created_by,
        ),
    )
