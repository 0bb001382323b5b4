"""HTTP routes for runs, user tasks and incidents."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.deps import Operator, Queries, Runs
from engine.runs import RunRequest, RunStatus

router = APIRouter(prefix="/api", tags=["runs"])


class RunCreated(BaseModel):
    """The id of a new run and where to follow it."""

    id: UUID
    status: str
    url: str


class TaskCompletion(BaseModel):
    """A person's answer to a user task, e.g. {"approved": true, "comment": "ok"}."""

    data: dict[str, Any] = Field(default_factory=dict)


@router.post("/runs", status_code=status.HTTP_201_CREATED, response_model=RunCreated)
async def start_run(body: RunRequest, runs: Runs, who: Operator) -> RunCreated:
    """Start a run for a coding request (pattern optional: the orchestrator chooses)."""
    run_id = await runs.start(body, created_by=who.name)
    return RunCreated(id=run_id, status="running", url=f"/api/runs/{run_id}")


@router.get("/runs")
async def list_runs(
    queries: Queries,
    status_: RunStatus | None = Query(None, alias="status"),
    limit: int = Query(50, ge=1, le=500),
) -> list[dict[str, Any]]:
    """Runs, newest first."""
    return await queries.list_runs(status=status_, limit=limit)


@router.get("/runs/{run_id}")
async def get_run(run_id: UUID, queries: Queries) -> dict[str, Any]:
    """A run with its steps, decisions (with evidence), artifacts and incidents."""
    return await queries.get_run(run_id)


@router.get("/runs/{run_id}/events")
async def run_events(
    run_id: UUID, queries: Queries, after: int = Query(0, ge=0)
) -> list[dict[str, Any]]:
    """Step events after event id `after` (for live progress)."""
    return await queries.events(run_id, after=after)


@router.get("/runs/{run_id}/artifacts/{artifact_id}")
async def get_artifact(run_id: UUID, artifact_id: UUID, queries: Queries) -> dict[str, Any]:
    """One artifact with its content."""
    return await queries.artifact(run_id, artifact_id)


@router.get("/runs/{run_id}/outputs/{blob_id}")
async def get_output(run_id: UUID, blob_id: UUID, queries: Queries) -> dict[str, Any]:
    """A stored prompt or model answer."""
    return await queries.blob(run_id, blob_id)


@router.post("/runs/{run_id}/tasks/{task_id}/complete")
async def complete_task(
    run_id: UUID, task_id: UUID, body: TaskCompletion, runs: Runs, who: Operator
) -> dict[str, Any]:
    """Complete a user task (e.g. approve a migration) with the person's answer."""
    await runs.complete_user_task(run_id, task_id, body.data, by=who.name)
    return {"run_id": str(run_id), "task_id": str(task_id), "completed": True}


@router.get("/incidents")
async def list_incidents(
    queries: Queries, status_: str | None = Query("open", alias="status")
) -> list[dict[str, Any]]:
    """Incidents (open ones by default; status=all for every one)."""
    return await queries.incidents(status=None if status_ == "all" else status_)


@router.post("/incidents/{incident_id}/retry")
async def retry_incident(incident_id: UUID, runs: Runs, who: Operator) -> dict[str, Any]:
    """Run the failed step again."""
    return await runs.retry_incident(incident_id, by=who.name)
