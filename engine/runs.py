"""Runs: start them, apply step results and failures, complete user tasks, retry incidents.

Every change to a run happens in `_advance`: one transaction that locks the run row,
restores the workflow, applies the change, runs engine steps, records steps and events,
enqueues the jobs of newly waiting service tasks and stores the new state.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import ErrorEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.catalog import DiagramCatalog
from engine.errors import BadRequest, Conflict, NotFound, OperatorError
from engine.expressions import evaluate
from engine.queue import StepJob, enqueue_step, enqueue_wake
from engine.specs import JobServiceTask
from engine.state import STATE_FORMAT, WorkflowCodec
from engine.steps import FINISHED, TaskView, ready_user_tasks, visible_tasks, waiting_jobs
from engine.tables import artifacts, decisions, incidents, runs, step_events, steps
from engine.telemetry import tracer
from validation.mesh import is_test_file

log = logging.getLogger(__name__)

Language = Literal["python", "javascript", "go"]
RunStatus = Literal["running", "waiting", "incident", "completed", "failed"]


def _file_name(name: str) -> str:
    """A request file's name: a relative path of plain characters, never leaving its folder."""
    parts = name.split("/")
    if (
        not re.fullmatch(r"[\w./-]{1,200}", name)
        or name.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(
            "file names must be relative paths of letters, digits, '_', '-', '.' "
            "and '/', without '..'"
        )
    return name


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("NUL characters cannot be stored; remove them")
    return text


class RunOptions(BaseModel):
    """How to run a request; unset fields take the server's defaults (see `RunDefaults`)."""

    model_config = ConfigDict(extra="forbid")

    groups: list[Annotated[str, StringConstraints(pattern=r"^[\w.-]{1,64}$")]] | None = Field(
        None, min_length=1, max_length=8, description="model groups that answer in a consensus"
    )
    consensus: bool | None = Field(
        None, description="generate with several model groups and a consensus (quick pattern)"
    )
    max_iterations: int | None = Field(
        None, ge=0, le=20, description="bound of the improve loop; 0 = no improvement"
    )
    escalate: bool | None = Field(
        None, description="ask a person about stuck code that nearly passes (false: give up)"
    )


@dataclass(frozen=True)
class RunDefaults:
    """The server's defaults for `RunOptions`, and the model groups it knows."""

    groups: tuple[str, ...] = ("coder",)
    consensus: bool = False
    max_iterations: int = 3
    escalate: bool = True
    known_groups: frozenset[str] = frozenset()

    def resolve(self, options: RunOptions) -> dict[str, Any]:
        """The options a run's diagrams read (task data `options`), defaults filled in."""
        groups = list(options.groups or self.groups)
        unknown = [g for g in groups if self.known_groups and g not in self.known_groups]
        if unknown:
            raise BadRequest(
                f"unknown model group(s) {', '.join(unknown)}; models.yaml defines "
                f"{', '.join(sorted(self.known_groups))}"
            )
        return {
            "groups": groups,
            "consensus": self.consensus if options.consensus is None else options.consensus,
            "max_iterations": self.max_iterations
            if options.max_iterations is None
            else options.max_iterations,
            "escalate": self.escalate if options.escalate is None else options.escalate,
        }


class RunRequest(BaseModel):
    """What a user asks for."""

    text: Annotated[str, AfterValidator(_no_nul)] = Field(min_length=1, max_length=20_000)
    language: Language = "python"
    pattern: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    files: dict[
        Annotated[str, AfterValidator(_file_name)],
        Annotated[str, StringConstraints(max_length=200_000), AfterValidator(_no_nul)],
    ] = Field(default_factory=dict, max_length=50)
    checks: dict[
        Annotated[str, AfterValidator(_file_name)],
        Annotated[str, StringConstraints(max_length=200_000), AfterValidator(_no_nul)],
    ] = Field(
        default_factory=dict,
        max_length=20,
        description="acceptance tests every validation runs with the code; not shown to models",
    )
    options: RunOptions = Field(default_factory=RunOptions)

    @model_validator(mode="after")
    def _checks_are_tests(self) -> RunRequest:
        wrong = [p for p in self.checks if not is_test_file(self.language, p)]
        if wrong:
            raise ValueError(
                f"checks must be test files for {self.language} (e.g. test_x.py, x.test.js, "
                f"x_test.go): {', '.join(sorted(wrong))}"
            )
        return self


@dataclass
class PreparedStep:
    """A waiting service task, ready for a worker to run its operator."""

    run_id: UUID
    task_id: UUID
    element_id: str
    element_name: str
    process_id: str
    operator: str
    params: dict[str, Any]
    request: dict[str, Any]
    visit: int
    pattern: str | None


class _Drop(Exception):
    """The change does not apply (a late or duplicate result): persist nothing."""


ChangeFn = Callable[[BpmnWorkflow, AsyncConnection, Any], Awaitable[Any]]


class RunService:
    """The one place that changes runs."""

    def __init__(
        self,
        db: AsyncEngine,
        catalog: DiagramCatalog,
        codec: WorkflowCodec,
        defaults: RunDefaults | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.codec = codec
        self.defaults = defaults or RunDefaults()

    # ---- starting -------------------------------------------------------------------------

    async def start(self, request: RunRequest, *, created_by: str | None) -> UUID:
        """Start a run of `orchestrate`, or of the pattern asked for, pinning diagram versions."""
        entry = request.pattern or "orchestrate"
        run_id = uuid.uuid4()
        options = self.defaults.resolve(request.options)
        async with self.db.begin() as conn:
            pinned = await self.catalog.pin(conn, entry)
            specs = await self.catalog.specs(conn, pinned)
            # `groups` also at the top: multi-instance tasks loop over a variable name
            data = {
                "request": request.model_dump(),
                "options": options,
                "groups": options["groups"],
            }
            wf = self.codec.new_workflow(entry, specs, data)
            await conn.execute(
                runs.insert().values(
                    id=run_id,
                    diagram_version_id=pinned[entry],
                    entry=entry,
                    spec_versions=pinned,
                    pattern=request.pattern,
                    request=request.model_dump(),
                    status="running",
                    state={},
                    state_format=STATE_FORMAT,
                    created_by=created_by,
                )
            )
            row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().one()
            await self._event(conn, run_id, None, None, "run.started", {"entry": entry})
            ended = await self._settle(
                conn, row, wf, before={}, jobs_before=set(), timers_before=set()
            )
        if ended is not None:
            _run_span(*ended)
        log.info("run %s started (%s)", run_id, entry)
        return run_id

    # ---- step results ---------------------------------------------------------------------

    async def prepare_step(self, run_id: UUID, task_id: UUID) -> PreparedStep | None:
        """Load a waiting service task for a worker; None when it no longer waits."""
        async with self.db.connect() as conn:
            row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().first()
            if row is None:
                return None
            wf = await self._restore(conn, row)
            task = _find(wf, task_id)
            if (
                task is None
                or task.state != TaskState.STARTED
                or not isinstance(task.task_spec, JobServiceTask)
            ):
                return None
            spec = task.task_spec
            params = {}
            for name, param in spec.operation_params.items():
                try:
                    params[name] = evaluate(param["value"], task.data)
                except Exception as exc:  # any failure is the diagram's: report, don't crash
                    params[name] = _ParamError(
                        f"step {spec.bpmn_id}: parameter {name!r} = {param['value']!r} "
                        f"could not be evaluated: {type(exc).__name__}: {exc}"
                    )
            visit = (
                await conn.execute(
                    select(func.count())
                    .select_from(steps)
                    .where(
                        steps.c.run_id == run_id,
                        steps.c.element_id == spec.bpmn_id,
                        steps.c.process_id == task.workflow.spec.name,
                        steps.c.started_at
                        <= select(steps.c.started_at)
                        .where(steps.c.task_id == task_id)
                        .scalar_subquery(),
                    )
                )
            ).scalar_one()
        return PreparedStep(
            run_id=run_id,
            task_id=task_id,
            element_id=spec.bpmn_id,
            element_name=spec.bpmn_name or spec.bpmn_id,
            process_id=task.workflow.spec.name,
            operator=spec.operation_name,
            params=params,
            request=row["request"],
            visit=max(int(visit), 1),
            pattern=row["pattern"],
        )

    async def complete_step(
        self,
        run_id: UUID,
        task_id: UUID,
        *,
        operator: str,
        result: dict[str, Any],
        usage: dict[str, Any],
        duration_ms: float,
        attempt: int,
        decision: bool,
        finishes: bool,
    ) -> bool:
        """Apply an operator's result; False when the task no longer waits (result dropped)."""

        async def change(wf: BpmnWorkflow, conn: AsyncConnection, row: Any) -> None:
            task = _waiting_task(wf, task_id)
            task.data[task.task_spec.result_variable] = result
            task.complete()
            # a duplicate copy of this job may have failed and opened an incident meanwhile
            await conn.execute(
                update(incidents)
                .where(incidents.c.task_id == task_id, incidents.c.status == "open")
                .values(status="resolved", resolved_at=datetime.now(UTC))
            )
            ids = list(_uuids(result))
            if ids:
                await conn.execute(
                    update(artifacts)
                    .where(artifacts.c.run_id == run_id, artifacts.c.id.in_(ids))
                    .values(applied=True)
                )
            await conn.execute(
                update(steps)
                .where(steps.c.task_id == task_id)
                .values(
                    result=result,
                    attempts=attempt,
                    error=None,
                    duration_ms=duration_ms,
                    tokens_in=int(usage.get("tokens_in", 0)),
                    tokens_out=int(usage.get("tokens_out", 0)),
                )
            )
            await conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    tokens_in=runs.c.tokens_in + int(usage.get("tokens_in", 0)),
                    tokens_out=runs.c.tokens_out + int(usage.get("tokens_out", 0)),
                )
            )
            if decision:
                await conn.execute(
                    insert(decisions)
                    .values(
                        run_id=run_id,
                        task_id=task_id,
                        element_id=task.task_spec.bpmn_id,
                        operator=operator,
                        choice=str(result.get("choice")),
                        confidence=result.get("confidence"),
                        evidence=result.get("evidence") or {},
                    )
                    .on_conflict_do_nothing()
                )
            if finishes:
                await conn.execute(
                    update(runs)
                    .where(runs.c.id == run_id)
                    .values(outcome=result.get("status", "completed"))
                )
                if ids:
                    await conn.execute(
                        update(artifacts)
                        .where(artifacts.c.run_id == run_id, artifacts.c.id.in_(ids))
                        .values(final=True)
                    )

        try:
            await self._advance(run_id, change)
        except _Drop:
            log.info("dropped late or duplicate result for run %s task %s", run_id, task_id)
            return False
        return True

    async def fail_step(
        self, run_id: UUID, task_id: UUID, *, error: OperatorError, attempts: int, operator: str
    ) -> str:
        """A step failed for good: a BPMN error on its boundary event, else an incident."""

        async def change(wf: BpmnWorkflow, conn: AsyncConnection, row: Any) -> str:
            task = _waiting_task(wf, task_id)
            await conn.execute(
                update(steps)
                .where(steps.c.task_id == task_id)
                .values(attempts=attempts, error=error.message)
            )
            if _deliver_error(task, error):
                await self._event(
                    conn,
                    run_id,
                    task_id,
                    task.task_spec.bpmn_id,
                    "bpmn_error",
                    {"code": error.code, "message": error.message},
                )
                return "boundary"
            await conn.execute(
                incidents.insert().values(
                    id=uuid.uuid4(),
                    run_id=run_id,
                    task_id=task_id,
                    element_id=task.task_spec.bpmn_id,
                    operator=operator,
                    message=error.message,
                    status="open",
                    attempts=attempts,
                )
            )
            await self._event(
                conn,
                run_id,
                task_id,
                task.task_spec.bpmn_id,
                "incident",
                {"message": error.message, "attempts": attempts},
            )
            return "incident"

        try:
            return str(await self._advance(run_id, change))
        except _Drop:
            return "dropped"

    async def record_attempt(self, run_id: UUID, task_id: UUID, attempt: int, message: str) -> None:
        """Note a failed attempt that will be retried."""
        async with self.db.begin() as conn:
            await conn.execute(
                update(steps)
                .where(steps.c.task_id == task_id)
                .values(attempts=attempt, error=message)
            )
            element = (
                await conn.execute(select(steps.c.element_id).where(steps.c.task_id == task_id))
            ).scalar()
            await self._event(
                conn, run_id, task_id, element, "retry", {"attempt": attempt, "message": message}
            )

    # ---- people ---------------------------------------------------------------------------

    async def complete_user_task(
        self, run_id: UUID, task_id: UUID, data: dict[str, Any], *, by: str
    ) -> None:
        """Complete a user task with a person's answer (stored under the element id)."""

        async def change(wf: BpmnWorkflow, conn: AsyncConnection, row: Any) -> None:
            task = _find(wf, task_id)
            if task is None:
                raise NotFound(f"run {run_id} has no task {task_id}")
            if task.state != TaskState.READY or not task.task_spec.manual:
                raise Conflict(
                    f"task {task.task_spec.bpmn_id} ({task_id}) is not waiting for input "
                    f"(state {TaskState.get_name(task.state)})"
                )
            task.data[task.task_spec.bpmn_id] = data
            task.run()
            await conn.execute(update(steps).where(steps.c.task_id == task_id).values(result=data))
            await self._event(
                conn,
                run_id,
                task_id,
                task.task_spec.bpmn_id,
                "user_completed",
                {"by": by, "data": data},
            )

        try:
            await self._advance(run_id, change)
        except _Drop:
            raise Conflict(f"run {run_id} has finished; its tasks take no more input") from None

    async def retry_incident(self, incident_id: UUID, *, by: str) -> dict[str, Any]:
        """Resolve an open incident by running its step again."""
        async with self.db.connect() as conn:
            inc = (
                (await conn.execute(select(incidents).where(incidents.c.id == incident_id)))
                .mappings()
                .first()
            )
        if inc is None:
            raise NotFound(f"incident {incident_id} does not exist")

        async def change(wf: BpmnWorkflow, conn: AsyncConnection, row: Any) -> None:
            current = (
                await conn.execute(
                    select(incidents.c.status)
                    .where(incidents.c.id == incident_id)
                    .with_for_update()
                )
            ).scalar_one()
            if current != "open":
                raise Conflict(f"incident {incident_id} is {current}, not open")
            task = _find(wf, inc["task_id"])
            await conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id)
                .values(status="resolved", resolved_at=datetime.now(UTC))
            )
            if task is None or task.state != TaskState.STARTED:
                return  # the step moved on meanwhile: nothing to run again
            await enqueue_step(conn, StepJob(inc["run_id"], inc["task_id"]))
            await self._event(
                conn,
                inc["run_id"],
                inc["task_id"],
                inc["element_id"],
                "incident_retry",
                {"by": by, "incident": str(incident_id)},
            )

        try:
            await self._advance(inc["run_id"], change)
        except _Drop:
            raise Conflict(f"run {inc['run_id']} has finished; nothing to retry") from None
        return {"incident": str(incident_id), "run_id": str(inc["run_id"]), "status": "resolved"}

    async def wake(self, run_id: UUID) -> None:
        """Fire due timers."""

        async def change(wf: BpmnWorkflow, conn: AsyncConnection, row: Any) -> None:
            wf.refresh_timers()

        try:
            await self._advance(run_id, change, reschedule_timers=True)
        except _Drop:
            return  # the run finished meanwhile

    # ---- the one transaction --------------------------------------------------------------

    async def _advance(
        self,
        run_id: UUID,
        change: ChangeFn,
        *,
        finished_ok: bool = False,
        reschedule_timers: bool = False,
    ) -> Any:
        """Apply `change` under the run's row lock. On a finished run, results from workers are
        dropped and people's requests get a Conflict (unless `finished_ok`)."""
        ended: tuple[Any, str, str | None] | None = None
        async with self.db.begin() as conn:
            row = (
                (await conn.execute(select(runs).where(runs.c.id == run_id).with_for_update()))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"run {run_id} does not exist")
            if row["status"] in ("completed", "failed") and not finished_ok:
                raise _Drop()
            wf = await self._restore(conn, row)
            before = visible_tasks(wf)
            jobs_before = waiting_jobs(wf)
            timers_before = set() if reschedule_timers else _timers(wf)
            error = None
            try:
                result = await change(wf, conn, row)
            except SpiffWorkflowException as exc:  # e.g. a failing script on the next task
                result, error = None, _engine_error(exc)
            ended = await self._settle(
                conn,
                row,
                wf,
                before=before,
                jobs_before=jobs_before,
                timers_before=timers_before,
                error=error,
            )
        if ended is not None:  # after the commit, so the recorder reads committed rows
            _run_span(*ended)
        return result

    async def _settle(
        self,
        conn: AsyncConnection,
        row: Any,
        wf: BpmnWorkflow,
        *,
        before: dict[UUID, TaskView],
        jobs_before: set[UUID],
        timers_before: set[str],
        error: str | None = None,
    ) -> tuple[Any, str, str | None] | None:
        run_id = row["id"]
        if error is None:
            try:
                wf.do_engine_steps()
            except SpiffWorkflowException as exc:
                error = _engine_error(exc)
        if error:
            log.warning("run %s failed in the engine: %s", run_id, error)
        after = visible_tasks(wf)
        await self._record_steps(conn, run_id, before, after)
        for task_id in sorted(waiting_jobs(wf) - jobs_before):
            await enqueue_step(conn, StepJob(run_id, task_id))
        now = datetime.now(UTC)
        for due in sorted(_timers(wf) - timers_before):
            # not before a second from now: a wake-up that comes early is scheduled again
            at = max(datetime.fromisoformat(due).astimezone(UTC), now + timedelta(seconds=1))
            await enqueue_wake(conn, run_id, at)
        pattern = row["pattern"] or next(
            (sp.spec.name for sp in wf.subprocesses.values() if sp.spec.name != row["entry"]), None
        )
        status = await self._status(conn, row, wf, error)
        finished = status in ("completed", "failed")
        updated = await conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.lock_version == row["lock_version"])
            .values(
                state=self.codec.dump(wf),
                state_format=STATE_FORMAT,
                status=status,
                pattern=pattern,
                error=error,
                lock_version=row["lock_version"] + 1,
                updated_at=func.now(),
                finished_at=func.now() if finished else None,
            )
        )
        if updated.rowcount != 1:  # only possible if the row lock was bypassed
            raise Conflict(f"run {run_id} changed concurrently; try again")
        if status != row["status"]:
            await self._event(conn, run_id, None, None, f"run.{status}", {"error": error})
            if finished:
                return (row, status, pattern)
        return None

    async def _status(
        self, conn: AsyncConnection, row: Any, wf: BpmnWorkflow, error: str | None
    ) -> RunStatus:
        if error:
            return "failed"
        if wf.is_completed():
            outcome = (
                await conn.execute(select(runs.c.outcome).where(runs.c.id == row["id"]))
            ).scalar()
            return "failed" if outcome == "failed" else "completed"
        open_incidents = (
            await conn.execute(
                select(func.count())
                .select_from(incidents)
                .where(incidents.c.run_id == row["id"], incidents.c.status == "open")
            )
        ).scalar_one()
        if open_incidents:
            return "incident"
        if waiting_jobs(wf):
            return "running"
        if ready_user_tasks(wf) or _timers(wf):
            return "waiting"
        return "running"

    async def _restore(self, conn: AsyncConnection, row: Any) -> BpmnWorkflow:
        specs = await self.catalog.specs(conn, row["spec_versions"])
        return self.codec.restore(row["state"], row["state_format"], row["entry"], specs)

    async def _record_steps(
        self,
        conn: AsyncConnection,
        run_id: UUID,
        before: dict[UUID, TaskView],
        after: dict[UUID, TaskView],
    ) -> None:
        now = datetime.now(UTC)
        for task_id, view in after.items():
            old = before.get(task_id)
            if old is not None and old.state == view.state:
                continue
            finished_at = now if view.state in FINISHED else None
            await conn.execute(
                insert(steps)
                .values(
                    task_id=task_id,
                    run_id=run_id,
                    element_id=view.element_id,
                    name=view.name,
                    process_id=view.process_id,
                    kind=view.kind,
                    operator=view.operator,
                    state=view.state,
                    started_at=now,
                    finished_at=finished_at,
                )
                .on_conflict_do_update(
                    index_elements=[steps.c.task_id],
                    set_={"state": view.state, "finished_at": finished_at},
                )
            )
            await self._event(
                conn,
                run_id,
                task_id,
                view.element_id,
                view.state,
                {"name": view.name, "kind": view.kind, "process": view.process_id},
            )

    @staticmethod
    async def _event(
        conn: AsyncConnection,
        run_id: UUID,
        task_id: UUID | None,
        element_id: str | None,
        event: str,
        detail: dict[str, Any],
    ) -> None:
        await conn.execute(
            step_events.insert().values(
                run_id=run_id, task_id=task_id, element_id=element_id, event=event, detail=detail
            )
        )


class _ParamError(str):
    """A parameter that failed to evaluate; the worker turns it into an OperatorError."""


def _engine_error(exc: Exception) -> str:
    element = getattr(getattr(exc, "task_spec", None), "bpmn_id", None)
    return f"step {element}: {exc}" if element else str(exc)


def _run_span(row: Any, status: str, pattern: str | None) -> None:
    """One span per finished run, spanning its whole life (recorded when it ends)."""
    start_ns = int(row["created_at"].timestamp() * 1e9)
    span = tracer.start_span(
        f"run {pattern or row['entry']}",
        start_time=start_ns,
        attributes={
            "weavergen.run_id": str(row["id"]),
            "weavergen.pattern": pattern or row["entry"],
            "weavergen.language": row["request"].get("language", ""),
            "weavergen.outcome": status,
            "weavergen.duration_ms": (time.time_ns() - start_ns) / 1e6,
        },
    )
    span.end()


def _find(wf: BpmnWorkflow, task_id: UUID) -> Any:
    try:
        return wf.get_task_from_id(task_id)
    except SpiffWorkflowException:
        return None


def _waiting_task(wf: BpmnWorkflow, task_id: UUID) -> Any:
    task = _find(wf, task_id)
    # completing a CANCELLED task would flip it back: only STARTED service tasks take results
    if (
        task is None
        or task.state != TaskState.STARTED
        or not isinstance(task.task_spec, JobServiceTask)
    ):
        raise _Drop()
    return task


def _deliver_error(task: Any, error: OperatorError) -> bool:
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


def _timers(wf: BpmnWorkflow) -> set[str]:
    out = set()
    for pending in wf.waiting_events():
        if pending.event_type.endswith("TimerEventDefinition") and isinstance(pending.value, str):
            out.add(pending.value)
    return out


def _uuids(value: Any) -> Iterator[UUID]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _uuids(v)
    elif isinstance(value, list):
        for v in value:
            yield from _uuids(v)
    elif isinstance(value, str) and len(value) == 36:
        try:
            yield UUID(value)
        except ValueError:
            return
