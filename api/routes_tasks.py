"""The task inbox over HTTP: person tasks waiting in any run, live, with claim and release.
Completing one is `POST /api/runs/{run_id}/tasks/{task_id}/complete` (api/routes_runs.py),
validated against the task's form."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import Operator, Runs, Viewer, require
from api.streams import live_list

router = APIRouter(prefix="/api", tags=["tasks"], dependencies=[Depends(require("viewer"))])


class TaskForm(BaseModel):
    """The form a person fills in: a JSON Schema and a UI schema (rjsf-style hints)."""

    schema_: dict[str, Any] = Field(alias="schema")
    ui: dict[str, Any]


class WaitingTask(BaseModel):
    """A person task waiting in a run."""

    task_id: UUID
    run_id: UUID
    element_id: str
    name: str
    kind: str = Field(description="UserTask or ManualTask")
    diagram: str = Field(description="the process id the run started with")
    process_id: str
    request: str = Field(description="the run's request text (first 200 characters)")
    run_status: str
    waiting_since: str
    lane: str | None
    groups: list[str] = Field(description="candidate groups (camunda:candidateGroups)")
    form: TaskForm | None
    claimed_by: str | None


class TaskFilters(BaseModel):
    """Which waiting tasks to list."""

    lane: str | None = Field(None, max_length=200, description="the task's lane (any case)")
    group: str | None = Field(None, max_length=200, description="one of its candidate groups")
    for_my_role: bool = Field(
        False,
        description="only tasks meant for my role (a lane or candidate group named after it) "
        "or for anyone",
    )
    diagram: str | None = Field(None, max_length=255, description="the run's process id")
    mine: bool = Field(False, description="only tasks I claimed")
    unclaimed: bool = Field(False, description="only tasks nobody claimed")
    run_id: UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(
        None, max_length=200, description="the previous page's X-Next-Cursor"
    )


def _filters(f: TaskFilters, who: Any) -> dict[str, Any]:
    return {
        "lane": f.lane,
        "group": f.group,
        "role": who.role if f.for_my_role else None,
        "diagram": f.diagram,
        "claimed_by": who.name if f.mine else None,
        "unclaimed": f.unclaimed,
        "run_id": f.run_id,
        "limit": f.limit,
    }


@router.get(
    "/tasks",
    responses={200: {"headers": {"X-Next-Cursor": {"description": "the next page's cursor"}}}},
)
async def list_tasks(
    filters: Annotated[TaskFilters, Query()], runs: Runs, who: Viewer, response: Response
) -> list[WaitingTask]:
    """Person tasks waiting, oldest first; `X-Next-Cursor` names the next page."""
    tasks, following = await runs.inbox.page(**_filters(filters, who), cursor=filters.cursor)
    if following:
        response.headers["X-Next-Cursor"] = following
    return [WaitingTask.model_validate(t) for t in tasks]


@router.get("/tasks/stream", response_class=StreamingResponse)
async def stream_tasks(
    request: Request, filters: Annotated[TaskFilters, Query()], runs: Runs, who: Viewer
) -> StreamingResponse:
    """The filtered inbox (server-sent events `tasks`), sent again whenever a run changes."""

    async def first_page() -> list[dict[str, Any]]:
        tasks, _ = await runs.inbox.page(**_filters(filters, who))
        return [WaitingTask.model_validate(t).model_dump(mode="json", by_alias=True) for t in tasks]

    return StreamingResponse(
        live_list(request, request.app.state.changes, "tasks", first_page),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/tasks/{task_id}")
async def get_task(task_id: UUID, runs: Runs) -> WaitingTask:
    """One waiting person task with its form (404 once it is done)."""
    return WaitingTask.model_validate(await runs.inbox.task(task_id))


@router.post("/tasks/{task_id}/claim", responses={409: {"description": "claimed by another"}})
async def claim_task(task_id: UUID, runs: Runs, who: Operator, request: Request) -> dict[str, Any]:
    """Claim a waiting task: others cannot complete it until it is released."""
    out = await runs.inbox.claim(task_id, who.name)
    request.app.state.changes.touch(out["run_id"])
    return out


@router.post("/tasks/{task_id}/unclaim", responses={409: {"description": "claimed by another"}})
async def unclaim_task(
    task_id: UUID, runs: Runs, who: Operator, request: Request
) -> dict[str, Any]:
    """Release a task you claimed (admins may release anyone's)."""
    out = await runs.inbox.unclaim(task_id, who.name, anyone=who.allows("admin"))
    request.app.state.changes.touch(out["run_id"])
    return out
