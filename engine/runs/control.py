"""Run control by people: cancel a run, read and edit its variables, retry a failed run from
the step that failed. Each goes through the run kernel under the run's row lock and leaves an
event saying who did it and when."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine.errors import BadRequest, Conflict, NotFound
from engine.json_limits import MAX_TASK_DATA_BYTES, check_json
from engine.runs import writes
from engine.runs.kernel import RunKernel, Tx
from engine.runs.requests import RUN_VARIABLES
from engine.runs.spiff import Drop
from engine.tables import runs

# data SpiffWorkflow reads when a task runs: ready, waiting and started tasks
CURRENT = TaskState.READY | TaskState.WAITING | TaskState.STARTED


class RunControl:
    """Cancel, variables and retry, for the API and the pages."""

    def __init__(self, kernel: RunKernel) -> None:
        self.kernel = kernel

    async def cancel(self, run_id: UUID, *, by: str) -> dict[str, Any]:
        """Cancel an unfinished run: its tasks end cancelled, its open incidents are
        resolved, and results of its jobs that come late are dropped."""

        async def change(wf: BpmnWorkflow, tx: Tx) -> None:
            wf.cancel()
            writes.resolve_run_incidents(tx.batch, run_id)
            writes.add_event(tx.batch, run_id, None, None, "cancelled", {"by": by})

        await self._advance(run_id, change, "cancelled", cancel=True)
        return {"run_id": str(run_id), "status": "cancelled"}

    async def variables(self, run_id: UUID) -> dict[str, Any]:
        """The run's variables: the data of the tasks where it stands (merged), or of its
        last task once it finished."""
        async with self.kernel.db.connect() as conn:
            row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().first()
            if row is None:
                raise NotFound(f"run {run_id} does not exist")
            wf = await self.kernel.restore(conn, row)
        return {"run_id": str(run_id), "status": row["status"], **_variables(wf)}

    async def edit_variables(
        self, run_id: UUID, values: dict[str, Any], remove: list[str], *, by: str
    ) -> dict[str, Any]:
        """Set `values` and remove `remove` in the data of the tasks where the run stands;
        recorded as a `variables_edited` event (who, what)."""
        if not values and not remove:
            raise BadRequest("nothing to change: give `set` and/or `delete`")
        _editable(set(values) | set(remove), values)

        async def change(wf: BpmnWorkflow, tx: Tx) -> list[str]:
            tasks = [t for t in wf.get_tasks(state=CURRENT) if t.task_spec.bpmn_id]
            if not tasks:
                raise Conflict(f"run {run_id} stands at no task whose data could change")
            for task in tasks:
                task.data.update(values)
                for name in remove:
                    task.data.pop(name, None)
            detail = {"by": by, "set": values, "delete": remove}
            writes.add_event(tx.batch, run_id, None, None, "variables_edited", detail)
            return sorted({t.task_spec.bpmn_id for t in tasks})

        at = await self._advance(run_id, change, "edited")
        return {"run_id": str(run_id), "at": at, "set": sorted(values), "deleted": remove}

    async def retry(
        self,
        run_id: UUID,
        *,
        by: str,
        values: dict[str, Any] | None = None,
        remove: list[str] | None = None,
    ) -> dict[str, Any]:
        """Run a failed run again from the step that failed (its error state cleared), with
        `values` set and `remove` deleted in that step's data first (a fix a person made;
        recorded with the retry)."""
        values, remove = values or {}, remove or []
        _editable(set(values) | set(remove), values)

        async def change(wf: BpmnWorkflow, tx: Tx) -> list[str]:
            if tx.row["status"] != "failed":
                raise Conflict(
                    f"run {run_id} is {tx.row['status']}, not failed; an incident is retried "
                    "from the incident itself"
                )
            failed = list(wf.get_tasks(state=TaskState.ERROR))
            if not failed:
                raise Conflict(
                    f"run {run_id} ended as its diagram says (no step failed); start a new run"
                )
            for task in failed:
                data = {**task.data, **values}
                for name in remove:
                    data.pop(name, None)
                wf.reset_from_task_id(task.id, data=data)
            elements = sorted({t.task_spec.bpmn_id or t.task_spec.name for t in failed})
            detail = {"by": by, "from": elements, "set": values, "delete": remove}
            writes.add_event(tx.batch, run_id, None, None, "retried", detail)
            return elements

        elements = await self._advance(run_id, change, "retried", reopen=True)
        return {"run_id": str(run_id), "retried_from": elements}

    async def _advance(
        self, run_id: UUID, change: Any, what: str, *, cancel: bool = False, reopen: bool = False
    ) -> Any:
        try:
            return await self.kernel.advance(run_id, change, cancel=cancel, reopen=reopen)
        except Drop:
            raise Conflict(f"run {run_id} has finished; it cannot be {what}") from None


def _editable(names: set[str], values: dict[str, Any]) -> None:
    """BadRequest for the run's own variables, and for values over the task-data limits."""
    reserved = sorted(names & RUN_VARIABLES)
    if reserved:
        raise BadRequest(
            f"{', '.join(reserved)} belong to the run's start and cannot be edited; "
            "start a new run instead"
        )
    check_json(values, "the new values", max_bytes=MAX_TASK_DATA_BYTES)


def _variables(wf: BpmnWorkflow) -> dict[str, Any]:
    tasks = [t for t in wf.get_tasks(state=CURRENT) if t.task_spec.bpmn_id]
    if not tasks:  # finished: the data it ended with (SpiffWorkflow keeps it on the workflow)
        return {"variables": dict(wf.data), "at": []}
    merged: dict[str, Any] = {}
    for task in tasks:
        merged.update(task.data)
    return {"variables": merged, "at": sorted({t.task_spec.bpmn_id or "" for t in tasks})}
