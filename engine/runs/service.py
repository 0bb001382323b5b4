"""Runs: start them, apply step results and failures, complete user tasks, retry incidents.

`RunService` is the command side: each command is a small change function handed to the
`RunKernel`, which applies it in the run's one transaction (see `engine.runs.kernel`).
It stays one module of about 400 lines on purpose: it is the one place that changes runs,
so reading it answers "what can happen to a run"; what is not a change went out of it
(people's answers: `answers`; cancel, variables, retry: `control`; the inbox: `inbox`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.database import reads
from adapters.learning import StepOutcome
from adapters.write_batch import WriteBatch
from engine.decisions.rules import rules
from engine.diagrams.catalog import DiagramCatalog
from engine.errors import Conflict, NotFound, OperatorError
from engine.jobs.queue import StepJob, enqueue_start, enqueue_step
from engine.learning.events import LearningEvents
from engine.runs import writes
from engine.runs.answers import check_answer, check_start_data
from engine.runs.cache import WorkflowCache
from engine.runs.control import RunControl
from engine.runs.inbox import Inbox, held_by
from engine.runs.kernel import Ended, RunKernel, Snapshot, StepRecords, Tx
from engine.runs.prepared import PREPARE_STEP, PreparedStep, decode_params, evaluate_params
from engine.runs.requests import FINISHED_STATUSES, RUN_VARIABLES, RunDefaults, RunRequest
from engine.runs.spiff import Drop, deliver_error, find_task, is_waiting_job, uuids, waiting_task
from engine.runs.state import ACCEPTED, STATE_FORMAT, WorkflowCodec
from engine.tables import incidents, runs, steps

log = logging.getLogger(__name__)
FINISHED_RUN = FINISHED_STATUSES


class RunService:
    """The one place that changes runs."""

    def __init__(
        self,
        db: AsyncEngine,
        catalog: DiagramCatalog,
        codec: WorkflowCodec,
        defaults: RunDefaults | None = None,
        events: LearningEvents | None = None,
        cache: WorkflowCache | None = None,
        step_records: StepRecords | None = None,
    ) -> None:
        self.db = db
        self.reads = reads(db)
        self.catalog = catalog
        self.defaults = defaults or RunDefaults()
        self.kernel = RunKernel(db, catalog, codec, events, cache, step_records)
        self.control = RunControl(self.kernel)  # cancel, variables, retry of a failed run
        self.inbox = Inbox(db, catalog)  # person tasks waiting, claims

    # ---- starting -------------------------------------------------------------------------

    async def start(self, request: RunRequest, *, created_by: str | None) -> UUID:
        """Start a run of `orchestrate`, or of the pattern asked for, and run it to its first
        wait in this transaction (in-process callers; the API uses `accept`)."""
        async with self.db.begin() as conn:
            batch = WriteBatch()
            run_id = await self._insert(conn, batch, request, created_by)
            await batch.send(conn)
            row = await self._locked(conn, run_id)
            wf, ended = await self._begin(Tx(conn, row, batch))
        self.kernel.committed(row, wf, ended)
        log.info("run %s started (%s)", run_id, row["entry"])
        return run_id

    async def accept(self, request: RunRequest, *, created_by: str | None) -> UUID:
        """Accept a run cheaply: pin its diagram versions, store it and queue its start; a
        worker builds the workflow (`begin`). A few statements and no SpiffWorkflow, so that
        bursts of starts do not hold the API's event loop."""
        async with self.db.begin() as conn:
            batch = WriteBatch()
            run_id = await self._insert(conn, batch, request, created_by)
            enqueue_start(batch, run_id)
            await batch.send(conn)
        return run_id

    async def begin(self, run_id: UUID) -> None:
        """Build an accepted run's workflow and run it to its first wait (a worker's job);
        nothing when it has begun already (a duplicate job)."""
        async with self.db.begin() as conn:
            row = await self._locked(conn, run_id)
            if row is None or ACCEPTED not in row["state"]:
                return
            wf, ended = await self._begin(Tx(conn, row, WriteBatch()))
        self.kernel.committed(row, wf, ended)
        log.info("run %s started (%s)", run_id, row["entry"])

    async def _insert(
        self,
        conn: AsyncConnection,
        batch: WriteBatch,
        request: RunRequest,
        created_by: str | None,
    ) -> UUID:
        """Queue the new run's row, its diagram versions pinned and its options resolved
        (kept in the state until the workflow is built); returns its id."""
        entry = request.diagram or request.pattern or "orchestrate"
        run_id = uuid.uuid4()
        options = self.defaults.resolve(request.options)
        pinned = await self.catalog.pin(conn, entry)
        await check_start_data(self.catalog, conn, pinned[entry], request.data)
        writes.insert_run(
            batch,
            run_id,
            diagram_version_id=pinned[entry],
            entry=entry,
            spec_versions=pinned,
            pattern=request.pattern,
            task_type=rules(request.text)["task_type"],
            request=request.model_dump(),
            state={ACCEPTED: {"options": options}},
            state_format=STATE_FORMAT,
            created_by=created_by,
        )
        writes.add_event(batch, run_id, None, None, "run.started", {"entry": entry})
        return run_id

    @staticmethod
    async def _locked(conn: AsyncConnection, run_id: UUID) -> Any:
        """The run's whole row, locked for this transaction; None if there is none."""
        query = select(runs).where(runs.c.id == run_id).with_for_update()
        return (await conn.execute(query)).mappings().first()

    async def _begin(self, tx: Tx) -> tuple[BpmnWorkflow, Ended | None]:
        conn, row = tx.conn, tx.row
        specs = await self.catalog.specs(conn, row["spec_versions"])
        options = row["state"][ACCEPTED]["options"]
        # `groups` also at the top: multi-instance tasks loop over a variable name
        start = {
            k: v for k, v in (row["request"].get("data") or {}).items() if k not in RUN_VARIABLES
        }
        data = {**start, "request": row["request"], "options": options, "groups": options["groups"]}
        wf = self.kernel.codec.new_workflow(row["entry"], specs, data)
        return wf, await self.kernel.settle(tx, wf, Snapshot.empty())

    # ---- step results ---------------------------------------------------------------------

    async def prepare_step(self, run_id: UUID, task_id: UUID) -> PreparedStep | None:
        """Load a waiting service task for a worker; None when it no longer waits.

        One query: the parameters were evaluated and stored on the step row when the task
        started waiting, so the run is not restored (unless they could not be stored)."""
        async with self.reads.connect() as conn:
            query = await conn.execute(PREPARE_STEP, {"run_id": run_id, "task_id": task_id})
            row = query.mappings().first()
            if row is None or row["state"] != "started" or row["status"] in FINISHED_RUN:
                return None
            if row["params"] is None:  # not storable as JSON: evaluate from the run's state
                params = await self._params_from_state(conn, run_id, task_id)
                if params is None:
                    return None
            else:
                params = decode_params(row["params"])
        request = RunRequest.model_validate(row["request"])
        return PreparedStep(
            run_id=run_id,
            task_id=task_id,
            element_id=row["element_id"],
            element_name=row["name"] or row["element_id"],
            process_id=row["process_id"],
            operator=row["operator"],
            request=request,
            task_type=row["task_type"] or rules(request.text)["task_type"],
            visit=max(int(row["visit"]), 1),
            pattern=row["pattern"],
            params=params,
        )

    async def _params_from_state(
        self, conn: AsyncConnection, run_id: UUID, task_id: UUID
    ) -> dict[str, Any] | None:
        row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().one()
        task = find_task(await self.kernel.restore(conn, row), task_id)
        if not is_waiting_job(task):
            return None
        return evaluate_params(task.task_spec, task.data)

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
        classifies: bool = False,
        learned: StepOutcome | None = None,
    ) -> bool:
        """Apply an operator's result; False when the task no longer waits (result dropped,
        and `learned`, the step's learning record, with it)."""
        tokens_in, tokens_out = int(usage.get("tokens_in", 0)), int(usage.get("tokens_out", 0))

        async def change(wf: BpmnWorkflow, tx: Tx) -> None:
            task = waiting_task(wf, task_id)
            task.task_spec.apply_result(task, result)
            task.complete()
            # a duplicate copy of this job may have failed and opened an incident meanwhile
            if tx.row["status"] == "incident":
                writes.resolve_incidents_of(tx.batch, task_id)
            ids = list(uuids(result))
            writes.mark_artifacts(tx.batch, run_id, ids)
            writes.record_step_result(
                tx.batch,
                task_id,
                result,
                attempts=attempt,
                duration_ms=duration_ms,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
            )
            if decision:
                element = task.task_spec.bpmn_id
                writes.record_decision(tx.batch, run_id, task_id, element, operator, result)
            if classifies and result.get("task_type"):
                writes.set_run_fields(tx.batch, run_id, task_type=str(result["task_type"]))
            if finishes:
                outcome = result.get("status", "completed")
                writes.set_run_fields(tx.batch, run_id, outcome=outcome)
                writes.mark_artifacts(tx.batch, run_id, ids, final=True)

        try:
            tokens = (tokens_in, tokens_out)
            await self.kernel.advance(
                run_id, change, opens_incidents=False, tokens=tokens, learned=learned
            )
        except Drop:
            log.info("dropped late or duplicate result for run %s task %s", run_id, task_id)
            return False
        return True

    async def fail_step(
        self,
        run_id: UUID,
        task_id: UUID,
        *,
        error: OperatorError,
        attempts: int,
        operator: str,
        learned: StepOutcome | None = None,
        boundary: bool = True,
    ) -> str:
        """A step failed for good: a BPMN error on its boundary event, else an incident
        (`boundary` False: an incident even so — the failure policy escalated)."""

        async def change(wf: BpmnWorkflow, tx: Tx) -> str:
            task = waiting_task(wf, task_id)
            element = task.task_spec.bpmn_id
            writes.record_step_error(tx.batch, task_id, attempts=attempts, message=error.message)
            if boundary and deliver_error(task, error):
                detail: dict[str, Any] = {"code": error.code, "message": error.message}
                writes.add_event(tx.batch, run_id, task_id, element, "bpmn_error", detail)
                return "boundary"
            writes.open_incident(
                tx.batch,
                run_id,
                task_id,
                element,
                operator=operator,
                message=error.message,
                attempts=attempts,
            )
            detail = {"message": error.message, "attempts": attempts}
            writes.add_event(tx.batch, run_id, task_id, element, "incident", detail)
            return "incident"

        try:
            return str(await self.kernel.advance(run_id, change, learned=learned))
        except Drop:
            return "dropped"

    async def record_attempt(
        self,
        run_id: UUID,
        task_id: UUID,
        attempt: int,
        message: str,
        learned: StepOutcome | None = None,
    ) -> None:
        """Note a failed attempt that will be retried."""
        async with self.db.begin() as conn:
            element = (
                await conn.execute(select(steps.c.element_id).where(steps.c.task_id == task_id))
            ).scalar()
            batch = WriteBatch()
            writes.record_step_error(batch, task_id, attempts=attempt, message=message)
            detail = {"attempt": attempt, "message": message}
            writes.add_event(batch, run_id, task_id, element, "retry", detail)
            self.kernel.record_step(batch, learned)
            await batch.send(conn)
        self.kernel.announce_step(learned)

    # ---- people ---------------------------------------------------------------------------

    async def complete_user_task(
        self, run_id: UUID, task_id: UUID, data: dict[str, Any], *, by: str
    ) -> None:
        """Complete a user task with a person's answer: stored under the element id (WeaverGen's
        own diagrams read `approve_migration['approved']`) and, as SpiffWorkflow and Camunda
        forms do, its fields as variables of their own (all but the run's own `request`,
        `options` and `groups`)."""

        async def change(wf: BpmnWorkflow, tx: Tx) -> None:
            task = find_task(wf, task_id)
            if task is None:  # never one of the run's, or finished and pruned from the tree
                step = (
                    await tx.conn.execute(
                        select(steps.c.element_id, steps.c.state).where(
                            steps.c.task_id == task_id, steps.c.run_id == run_id
                        )
                    )
                ).first()
                if step is None:
                    raise NotFound(f"run {run_id} has no task {task_id}")
                raise Conflict(
                    f"task {step.element_id} ({task_id}) is not waiting for input "
                    f"(state {step.state.upper()})"
                )
            if task.state != TaskState.READY or not task.task_spec.manual:
                raise Conflict(
                    f"task {task.task_spec.bpmn_id} ({task_id}) is not waiting for input "
                    f"(state {TaskState.get_name(task.state)})"
                )
            holder = await held_by(tx.conn, run_id, task_id)
            if holder not in (None, by):
                raise Conflict(
                    f"task {task.task_spec.bpmn_id} is claimed by {holder}; they complete it, "
                    "or unclaim it first"
                )
            await check_answer(self.catalog, tx.conn, tx.row["spec_versions"], task, data)
            task.data[task.task_spec.bpmn_id] = data
            task.data.update({k: v for k, v in data.items() if k not in RUN_VARIABLES})
            task.run()
            writes.set_user_answer(tx.batch, task_id, data)
            detail = {"by": by, "data": data}
            writes.add_event(
                tx.batch, run_id, task_id, task.task_spec.bpmn_id, "user_completed", detail
            )

        try:
            await self.kernel.advance(run_id, change)
        except Drop:
            raise Conflict(f"run {run_id} has finished; its tasks take no more input") from None

    async def retry_incident(self, incident_id: UUID, *, by: str) -> dict[str, Any]:
        """Resolve an open incident by running its step again."""
        async with self.reads.connect() as conn:
            inc = (
                (await conn.execute(select(incidents).where(incidents.c.id == incident_id)))
                .mappings()
                .first()
            )
        if inc is None:
            raise NotFound(f"incident {incident_id} does not exist")

        async def change(wf: BpmnWorkflow, tx: Tx) -> None:
            current = (
                await tx.conn.execute(
                    select(incidents.c.status)
                    .where(incidents.c.id == incident_id)
                    .with_for_update()
                )
            ).scalar_one()
            if current != "open":
                raise Conflict(f"incident {incident_id} is {current}, not open")
            task = find_task(wf, inc["task_id"])
            writes.resolve_incident(tx.batch, incident_id)
            if task is None or task.state != TaskState.STARTED:
                return  # the step moved on meanwhile: nothing to run again
            enqueue_step(tx.batch, StepJob(inc["run_id"], inc["task_id"]))
            writes.add_event(
                tx.batch,
                inc["run_id"],
                inc["task_id"],
                inc["element_id"],
                "incident_retry",
                {"by": by, "incident": str(incident_id)},
            )

        try:
            await self.kernel.advance(inc["run_id"], change)
        except Drop:
            raise Conflict(f"run {inc['run_id']} has finished; nothing to retry") from None
        return {"incident": str(incident_id), "run_id": str(inc["run_id"]), "status": "resolved"}

    async def wake(self, run_id: UUID) -> None:
        """Fire due timers."""

        async def change(wf: BpmnWorkflow, tx: Tx) -> None:
            wf.refresh_timers()

        try:
            await self.kernel.advance(run_id, change, reschedule_timers=True)
        except Drop:
            return  # the run finished meanwhile
