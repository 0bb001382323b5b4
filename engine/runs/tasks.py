"""Step bookkeeping: diff a workflow's tasks before/after a change into step rows and events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.diagrams.specs import JOB_SPECS, JobScriptTask, JobServiceTask

# states a person watching a run cares about; FUTURE/LIKELY/MAYBE are SpiffWorkflow's planning
VISIBLE = {
    TaskState.READY: "ready",
    TaskState.STARTED: "started",
    TaskState.WAITING: "waiting",
    TaskState.COMPLETED: "completed",
    TaskState.ERROR: "error",
    TaskState.CANCELLED: "cancelled",
}
FINISHED = {"completed", "error", "cancelled"}


@dataclass(frozen=True)
class TaskView:
    """One BPMN task of a run as the step table records it."""

    task_id: UUID
    element_id: str
    name: str | None
    process_id: str
    kind: str
    operator: str | None
    state: str


def visible_tasks(wf: BpmnWorkflow) -> dict[UUID, TaskView]:
    """Every task with a BPMN element id in a state worth showing, by task id."""
    out: dict[UUID, TaskView] = {}
    for task in wf.get_tasks():
        spec = task.task_spec
        state = VISIBLE.get(task.state)
        if state is None or not getattr(spec, "bpmn_id", None):
            continue
        if spec.__class__.__name__ == "BoundaryEventSplit":
            continue
        out[task.id] = TaskView(
            task_id=task.id,
            element_id=spec.bpmn_id,
            name=getattr(spec, "bpmn_name", None),
            process_id=task.workflow.spec.name,
            kind=_kind(spec),
            operator=getattr(spec, "operation_name", None),
            state=state,
        )
    return out


def _kind(spec: Any) -> str:
    if isinstance(spec, JobServiceTask):
        return "ServiceTask"
    if isinstance(spec, JobScriptTask):
        return "ScriptTask"
    return type(spec).__name__


def waiting_jobs(wf: BpmnWorkflow) -> set[UUID]:
    """Service and script tasks STARTED and waiting for a worker's result."""
    return {
        t.id for t in wf.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, JOB_SPECS)
    }


def ready_user_tasks(wf: BpmnWorkflow) -> list[Any]:
    """User tasks waiting for a person."""
    return [t for t in wf.get_tasks(state=TaskState.READY) if t.task_spec.manual]
