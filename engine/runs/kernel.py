"""The run kernel: the one transaction that changes a run.

`advance` locks the run row, restores the workflow, applies a change, runs engine steps,
records steps and events, enqueues the jobs of newly waiting service tasks, schedules timers
and stores the new state with an optimistic `lock_version`. When the run finishes, its end is
announced after the commit (a span for tracing, a `RunFinished` event for learning).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.learning import StepOutcome
from adapters.write_batch import StaleWrite, WriteBatch
from engine.diagrams.catalog import DiagramCatalog
from engine.errors import Conflict, EngineError, NotFound, is_infrastructure
from engine.jobs.queue import StepJob, enqueue_step, enqueue_wake
from engine.learning.events import LearningEvents, RunFinished, StepFinished
from engine.runs import writes
from engine.runs.cache import WorkflowCache
from engine.runs.prepared import encode_params, evaluate_params
from engine.runs.requests import FINISHED_STATUSES, RunStatus
from engine.runs.spiff import (
    Drop,
    drop_spent_data,
    engine_error,
    find_task,
    pending_timers,
    prune_spent_tasks,
)
from engine.runs.state import STATE_FORMAT, WorkflowCodec
from engine.runs.tasks import TaskView, ready_user_tasks, visible_tasks, waiting_jobs
from engine.tables import incidents, runs
from engine.telemetry import tracer

log = logging.getLogger(__name__)

# the run row without its state, locked (statements built once: building one costs as much
# as running it)
_LOCK = (
    select(*[column for column in runs.c if column.name != "state"])
    .where(runs.c.id == bindparam("run_id"))
    .with_for_update()
)
_OUTCOME = select(runs.c.outcome).where(runs.c.id == bindparam("run_id"))
_OPEN_INCIDENTS = (
    select(func.count())
    .select_from(incidents)
    .where(incidents.c.run_id == bindparam("run_id"), incidents.c.status == "open")
)


def _advance_error(exc: Exception, run_id: UUID) -> str:
    """What to tell about an exception while a run advanced: SpiffWorkflow's own errors name
    their element; anything else (a bug here or in SpiffWorkflow) fails the run too, named,
    rather than answering 500 and leaving it stranded. Our own refusals (409, 404, a stale
    or dropped change) and database trouble are raised on: the caller answers or retries."""
    if isinstance(exc, EngineError | Drop | StaleWrite) or is_infrastructure(exc):
        raise exc
    if isinstance(exc, SpiffWorkflowException):
        return engine_error(exc)
    log.exception("run %s: unexpected error while advancing", run_id)
    return (
        f"internal error while advancing the run: {type(exc).__name__}: {exc}; "
        "the run stopped here (report it with the run id)"
    )


@dataclass(frozen=True)
class Tx:
    """What a change to a run works with: the transaction's connection (for reads), the run
    row as locked, and the batch its writes are queued on (sent just before the commit)."""

    conn: AsyncConnection
    row: Any
    batch: WriteBatch


ChangeFn = Callable[[BpmnWorkflow, Tx], Awaitable[Any]]
StepRecords = Callable[[WriteBatch, StepOutcome], None]


@dataclass(frozen=True)
class Ended:
    """A run that finished in this transaction; announced once the transaction commits."""

    row: Any
    status: str
    pattern: str | None


@dataclass
class Snapshot:
    """What the workflow looked like before a change, to find what the change did."""

    tasks: dict[UUID, TaskView]
    jobs: set[UUID]
    timers: set[str]

    @classmethod
    def empty(cls) -> Snapshot:
        """Before a run's first transaction: nothing yet."""
        return cls({}, set(), set())

    @classmethod
    def of(cls, wf: BpmnWorkflow, *, reschedule_timers: bool = False) -> Snapshot:
        """The workflow now (timers forgotten when they must be scheduled again)."""
        return cls(
            visible_tasks(wf), waiting_jobs(wf), set() if reschedule_timers else pending_timers(wf)
        )


class RunKernel:
    """Applies changes to runs, each in one transaction under the run's row lock."""

    def __init__(
        self,
        db: AsyncEngine,
        catalog: DiagramCatalog,
        codec: WorkflowCodec,
        events: LearningEvents | None = None,
        cache: WorkflowCache | None = None,
        step_records: StepRecords | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.codec = codec
        self.events = events or LearningEvents()
        self.cache = cache if cache is not None else WorkflowCache(0)
        self.step_records = step_records

    async def advance(
        self,
        run_id: UUID,
        change: ChangeFn,
        *,
        reschedule_timers: bool = False,
        opens_incidents: bool = True,
        tokens: tuple[int, int] = (0, 0),
        learned: StepOutcome | None = None,
        cancel: bool = False,
        reopen: bool = False,
    ) -> Any:
        """Apply `change` under the run's row lock. On a finished run nothing applies: `Drop`
        (workers drop their result; people's requests turn it into a Conflict), unless
        `reopen` (a failed run retried). `cancel`: the change cancels the run.

        `opens_incidents=False` says the change opens none (then open incidents are counted
        only if the run had some); `tokens` (in, out) are added to the run's totals;
        `learned`, the finished step's learning record, is recorded with the change."""
        async with self.db.begin() as conn:
            # the row without its state: a workflow this process changed last is at hand
            row = (await conn.execute(_LOCK, {"run_id": run_id})).mappings().first()
            if row is None:
                raise NotFound(f"run {run_id} does not exist")
            if row["status"] in FINISHED_STATUSES and not (reopen and row["status"] == "failed"):
                raise Drop()
            wf = self.cache.take(run_id, row["lock_version"]) or await self.restore(conn, row)
            before = Snapshot.of(wf, reschedule_timers=reschedule_timers)
            tx = Tx(conn, row, WriteBatch())
            error = None
            try:
                result = await change(wf, tx)
            except Exception as exc:  # e.g. a failing script on the next task
                result, error = None, _advance_error(exc, run_id)
            self.record_step(tx.batch, learned)
            ended = await self.settle(
                tx,
                wf,
                before,
                error=error,
                opens_incidents=opens_incidents,
                tokens=tokens,
                cancelled=cancel and error is None,
            )
        self.committed(row, wf, ended)
        self.announce_step(learned)
        return result

    def record_step(self, batch: WriteBatch, learned: StepOutcome | None) -> None:
        """A finished step's learning record, in the transaction when the outcome store is
        the run database's (see `announce_step` for the other case)."""
        if learned is not None and self.step_records is not None:
            self.step_records(batch, learned)

    def announce_step(self, learned: StepOutcome | None) -> None:
        """A finished step's learning record for the recorder, once its transaction
        committed, when the outcome store is a server of its own."""
        if learned is not None and self.step_records is None:
            self.events.emit(StepFinished(learned))

    def committed(self, row: Any, wf: BpmnWorkflow, ended: Ended | None) -> None:
        """After a run's change committed: announce its end (so the recorder reads committed
        rows), or keep its workflow for the next change."""
        if ended is not None:
            self.announce(ended)
        else:
            self.cache.keep(row["id"], row["lock_version"] + 1, wf)

    async def settle(
        self,
        tx: Tx,
        wf: BpmnWorkflow,
        before: Snapshot,
        *,
        error: str | None = None,
        opens_incidents: bool = True,
        tokens: tuple[int, int] = (0, 0),
        cancelled: bool = False,
    ) -> Ended | None:
        """Run engine steps and persist what changed: steps, events, jobs, timers, state (the
        transaction's writes are sent here, its last statements before the commit)."""
        conn, row, batch = tx.conn, tx.row, tx.batch
        run_id = row["id"]
        if error is None:
            try:
                wf.do_engine_steps()
            except Exception as exc:
                error = _advance_error(exc, run_id)
        if error:
            log.warning("run %s failed in the engine: %s", run_id, error)
        after = visible_tasks(wf)
        new_jobs = sorted(waiting_jobs(wf) - before.jobs)
        # a new job's parameters are evaluated now, while its task data is at hand
        params = {}
        for task_id in new_jobs:
            task = find_task(wf, task_id)
            params[task_id] = encode_params(evaluate_params(task.task_spec, task.data))
        self._record_steps(batch, run_id, before.tasks, after, params)
        # fair scheduling: the further a run has come, the sooner its next step runs, so runs
        # finish roughly in the order they started instead of all together at the end
        progress = sum(1 for view in after.values() if view.state == "completed")
        for task_id in new_jobs:
            enqueue_step(batch, StepJob(run_id, task_id), priority=progress)
        now = datetime.now(UTC)
        for due in sorted(pending_timers(wf) - before.timers):
            # not before a second from now: a wake-up that comes early is scheduled again
            at = max(datetime.fromisoformat(due).astimezone(UTC), now + timedelta(seconds=1))
            enqueue_wake(batch, run_id, at)
        pattern = row["pattern"] or next(
            (sp.spec.name for sp in wf.subprocesses.values() if sp.spec.name != row["entry"]), None
        )
        incidents_open = opens_incidents or row["status"] == "incident"
        status: RunStatus = (
            "cancelled"
            if cancelled
            else await self._status(tx, wf, error, count_incidents=incidents_open)
        )
        finished = status in FINISHED_STATUSES
        prune_spent_tasks(wf)
        drop_spent_data(wf)
        if status != row["status"]:
            writes.add_event(batch, run_id, None, None, f"run.{status}", {"error": error})
        writes.save_state(
            batch,
            row,
            state=self.codec.dump(wf),
            state_format=STATE_FORMAT,
            status=status,
            pattern=pattern,
            error=error,
            tokens=tokens,
            finished=finished,
        )
        try:
            await batch.send(conn)
        except StaleWrite as exc:  # only possible if the row lock was bypassed
            raise Conflict(str(exc)) from None
        if finished and status != row["status"]:
            return Ended(row, status, pattern)
        return None

    async def restore(self, conn: AsyncConnection, row: Any) -> BpmnWorkflow:
        """The run's workflow from its stored state (read now if `row` lacks it) and its
        pinned specs."""
        if "state" in row:
            state = row["state"]
        else:
            query = select(runs.c.state).where(runs.c.id == row["id"])
            state = (await conn.execute(query)).scalar_one()
        specs = await self.catalog.specs(conn, row["spec_versions"])
        return self.codec.restore(state, row["state_format"], row["entry"], specs)

    def announce(self, ended: Ended) -> None:
        """A finished run: one span over its whole life, and a learning event."""
        row = ended.row
        pattern = ended.pattern or row["entry"]
        start_ns = int(row["created_at"].timestamp() * 1e9)
        duration_ms = (time.time_ns() - start_ns) / 1e6
        span = tracer.start_span(
            f"run {pattern}",
            start_time=start_ns,
            attributes={
                "weavergen.run_id": str(row["id"]),
                "weavergen.pattern": pattern,
                "weavergen.language": row["request"].get("language", ""),
                "weavergen.outcome": ended.status,
                "weavergen.duration_ms": duration_ms,
            },
        )
        span.end()
        if ended.status != "cancelled":  # a cancelled run says nothing about the pattern
            self.events.emit(RunFinished(row["id"], pattern, ended.status, duration_ms))

    async def _status(
        self, tx: Tx, wf: BpmnWorkflow, error: str | None, *, count_incidents: bool = True
    ) -> RunStatus:
        """The run's status after the change; reads what the change wrote (the outcome a step
        declared, the incident it opened), so the writes queued so far are sent first."""
        conn, row = tx.conn, tx.row
        if error:
            return "failed"
        if wf.is_completed() or count_incidents:
            await tx.batch.send(conn)
        if wf.is_completed():
            outcome = (await conn.execute(_OUTCOME, {"run_id": row["id"]})).scalar()
            return "failed" if outcome == "failed" else "completed"
        open_incidents = (
            count_incidents
            and (await conn.execute(_OPEN_INCIDENTS, {"run_id": row["id"]})).scalar_one()
        )
        if open_incidents:
            return "incident"
        if waiting_jobs(wf):
            return "running"
        if ready_user_tasks(wf) or pending_timers(wf):
            return "waiting"
        return "running"

    def _record_steps(
        self,
        batch: WriteBatch,
        run_id: UUID,
        before: dict[UUID, TaskView],
        after: dict[UUID, TaskView],
        params: dict[UUID, dict[str, Any] | None],
    ) -> None:
        changed = [
            view
            for task_id, view in after.items()
            if (old := before.get(task_id)) is None or old.state != view.state
        ]
        writes.record_task_changes(batch, run_id, changed, datetime.now(UTC), params)
