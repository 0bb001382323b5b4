"""SpiffWorkflow internals the run kernel needs: finding tasks, delivering BPMN errors to a
task's own boundary events, pending timers, and naming the element an engine error came from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import ErrorEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine.diagrams.specs import JOB_SPECS
from engine.errors import OperatorError


class Drop(Exception):
    """The change does not apply (a late or duplicate result): persist nothing."""


def find_task(wf: BpmnWorkflow, task_id: UUID) -> Any:
    """The task with this id, or None."""
    try:
        return wf.get_task_from_id(task_id)
    except SpiffWorkflowException:
        return None


def is_waiting_job(task: Any) -> bool:
    """Whether `task` is a job task (service or script) STARTED and waiting for a worker's
    result."""
    return (
        task is not None
        and task.state == TaskState.STARTED
        and isinstance(task.task_spec, JOB_SPECS)
    )


def waiting_task(wf: BpmnWorkflow, task_id: UUID) -> Any:
    """The service task waiting for this result, else `Drop`."""
    task = find_task(wf, task_id)
    # completing a CANCELLED task would flip it back: only STARTED service tasks take results
    if not is_waiting_job(task):
        raise Drop()
    return task


def deliver_error(task: Any, error: OperatorError) -> bool:
    """Deliver a BPMN error to the boundary events of this task only."""
    event = BpmnEvent(ErrorEventDefinition(error.code, code=error.code), {"message": error.message})
    delivered = False
    for sibling in task.parent.children:
        spec = sibling.task_spec
        if sibling is task or sibling.state != TaskState.WAITING:
            continue
        if type(spec).__name__ == "BoundaryEvent" and spec.catches(sibling, event):
            spec.catch(sibling, event)
            spec._update(sibling)  # as SpiffWorkflow's event manager does after a catch
            delivered = True
    return delivered


def pending_timers(wf: BpmnWorkflow) -> set[str]:
    """Due times (ISO strings) of the timers the workflow waits for."""
    out = set()
    for pending in wf.waiting_events():
        if pending.event_type.endswith("TimerEventDefinition") and isinstance(pending.value, str):
            out.add(pending.value)
    # an event-based gateway (or a multiple event) waits for several definitions at once and
    # reports none of their values; a timer among them keeps its due time in the task
    for task in wf.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, MultipleEventDefinition) and any(
            isinstance(d, TimerEventDefinition) for d in definition.event_definitions
        ):
            value = task.internal_data.get("event_value")
            value = value.get("next") if isinstance(value, dict) else value  # a cycle's next
            if isinstance(value, str):
                out.add(value)
    return out


SPENT = TaskState.COMPLETED | TaskState.CANCELLED


def drop_spent_data(wf: BpmnWorkflow) -> int:
    """Empty the data of every task that is finished and whose children are finished too;
    returns how many were emptied.

    Nothing reads such data again: a task takes a copy of its parent's data when it becomes
    ready, joins and multi-instance tasks merge a child's data when it completes, and the
    engine reads only ready tasks' data. Without it the stored state stops growing by a copy
    of the run's variables per step of every loop iteration. The root keeps the run's
    initial data."""
    dropped = 0
    for workflow in (wf, *wf.subprocesses.values()):
        for task in workflow.tasks.values():
            if (
                task.data
                and task.has_state(SPENT)
                and task is not workflow.task_tree
                and all(child.has_state(SPENT) for child in task.children)
            ):
                task.data = {}
                dropped += 1
    return dropped


def prune_spent_tasks(wf: BpmnWorkflow) -> int:
    """Remove the finished tasks that every unfinished task has left behind; returns how
    many were removed.

    In each workflow (the run's and each subprocess's) the unfinished tasks meet at one
    deepest common ancestor; every task above it, and every branch hanging off that chain, is
    finished and is an ancestor of all that can still happen, which SpiffWorkflow reads only
    to skip it, with one exception: a parallel or inclusive join decides whether an input
    was taken by climbing its ancestors to an instance of that input (a join that merges a
    loop's way back with the way in). So above the meeting point stays a thin chain: the
    latest instance of each join input among its ancestors, oldest first, then the meeting
    point; the root heads it and keeps the run's initial data. Without pruning a loop adds a
    copy of its tasks to the stored state on every iteration; the chain is bounded by the
    number of join inputs. The step table keeps the history."""
    return sum(_prune(workflow, wf.subprocesses) for workflow in (wf, *wf.subprocesses.values()))


def _prune(workflow: Any, subprocesses: dict[UUID, Any]) -> int:
    root = workflow.task_tree
    unfinished = [t for t in workflow.tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not unfinished:
        return 0
    meet = _meeting_point(unfinished)
    if meet is root:
        return 0
    chain = [*_join_inputs_above(workflow, meet), meet]
    keep = {root.id} | {task.id for task in chain}
    stack = [meet]
    while stack:
        task = stack.pop()
        keep.add(task.id)
        stack.extend(task.children)
    gone = [task_id for task_id in workflow.tasks if task_id not in keep]
    if not gone or any(task_id in subprocesses for task_id in gone):
        return 0  # nothing to drop, or a finished call whose subprocess SpiffWorkflow holds
    for task_id in gone:
        del workflow.tasks[task_id]
    for parent, child in zip([root, *chain], chain, strict=False):
        parent._children = [child.id]
        child._parent = parent.id
    return len(gone)


def _join_inputs_above(workflow: Any, meet: Any) -> list[Any]:
    """The latest instance of each parallel or inclusive join's input spec among `meet`'s
    ancestors, oldest first."""
    inputs = {
        source
        for spec in workflow.spec.task_specs.values()
        if isinstance(spec, UnstructuredJoin)
        for source in spec.inputs
    }
    found: list[Any] = []
    task = meet.parent
    while task is not None and task is not workflow.task_tree and inputs:
        if task.task_spec in inputs:
            inputs.discard(task.task_spec)
            found.append(task)
        task = task.parent
    return found[::-1]


def _meeting_point(tasks: list[Any]) -> Any:
    """The deepest task that is an ancestor of, or one of, all `tasks`."""
    path = []
    task = tasks[0]
    while task is not None:
        path.append(task)
        task = task.parent
    path.reverse()  # from the root down
    depth = {t.id: i for i, t in enumerate(path)}
    deepest = len(path) - 1
    for task in tasks[1:]:
        while task.id not in depth:
            task = task.parent
        deepest = min(deepest, depth[task.id])
    return path[deepest]


def engine_error(exc: Exception) -> str:
    """An engine error's message, prefixed with the element it concerns when known."""
    element = getattr(getattr(exc, "task_spec", None), "bpmn_id", None)
    return f"step {element}: {exc}" if element else str(exc)


def uuids(value: Any) -> Iterator[UUID]:
    """Every UUID string inside a result (artifact and blob references)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from uuids(v)
    elif isinstance(value, list):
        for v in value:
            yield from uuids(v)
    elif isinstance(value, str) and len(value) == 36:
        try:
            yield UUID(value)
        except ValueError:
            return
