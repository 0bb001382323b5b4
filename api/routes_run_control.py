"""Run control over HTTP: cancel a run, read and edit its variables, retry a failed run."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from api.deps import Admin, Operator, Runs, require

router = APIRouter(prefix="/api", tags=["runs"], dependencies=[Depends(require("viewer"))])


class VariablesEdit(BaseModel):
    """Variables to set and to delete where the run stands."""

    set: dict[str, Any] = Field(default_factory=dict)
    delete: list[str] = Field(default_factory=list, max_length=200)


@router.post("/runs/{run_id}/cancel", responses={409: {"description": "the run has finished"}})
async def cancel_run(run_id: UUID, runs: Runs, who: Operator, request: Request) -> dict[str, Any]:
    """Cancel a run: its steps end cancelled and late results of its jobs are dropped."""
    out = await runs.control.cancel(run_id, by=who.name)
    request.app.state.changes.touch(str(run_id))
    return out


@router.get("/runs/{run_id}/variables")
async def run_variables(run_id: UUID, runs: Runs) -> dict[str, Any]:
    """The data of the tasks where the run stands (of its last task once finished)."""
    return await runs.control.variables(run_id)


@router.patch("/runs/{run_id}/variables", responses={409: {"description": "the run has finished"}})
async def edit_run_variables(
    run_id: UUID, body: VariablesEdit, runs: Runs, who: Admin, request: Request
) -> dict[str, Any]:
    """Set and delete variables where the run stands; recorded as an event (who, what)."""
    out = await runs.control.edit_variables(run_id, body.set, body.delete, by=who.name)
    request.app.state.changes.touch(str(run_id))
    return out


@router.post(
    "/runs/{run_id}/retry",
    responses={
        403: {"description": "editing variables needs admin"},
        409: {"description": "not a failed run"},
    },
)
async def retry_run(
    run_id: UUID, runs: Runs, who: Operator, request: Request, body: VariablesEdit | None = None
) -> dict[str, Any]:
    """Run a failed run again from the step that failed; `set`/`delete` (admin) fix that
    step's data first."""
    fix = body or VariablesEdit()
    if (fix.set or fix.delete) and not who.allows("admin"):
        raise HTTPException(403, "changing a run's variables needs the admin role")
    out = await runs.control.retry(run_id, by=who.name, values=fix.set, remove=fix.delete)
    request.app.state.changes.touch(str(run_id))
    return out
