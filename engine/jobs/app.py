"""The procrastinate app: step and wake-up jobs, retries with backoff, stalled-job recovery."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from adapters import backend_priority
from engine.errors import OperatorError
from engine.jobs.heartbeat import ThreadHeartbeat
from engine.jobs.queue import RUN_STEP_TASK, START_RUN_TASK, STEP_QUEUE, WAKE_RUN_TASK
from engine.runs import RunService
from engine.steps.runner import RetryLater, StepRunner

log = logging.getLogger(__name__)
INFRA_ATTEMPTS = 6  # tries for errors that are not the operator's (about a minute of backoff)


def _after(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=max(seconds, 0.0))


class StepRetry(BaseRetryStrategy):
    """Retry when the step asked for it (RetryLater), after the delay it named."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RetryLater):
            return RetryDecision(retry_at=_after(exception.delay))
        # anything else is infrastructure trouble (the database restarting, say): retry with
        # backoff; run_step turns the last failure into an incident so no run is stranded
        if job.attempts < INFRA_ATTEMPTS - 1:
            return RetryDecision(retry_at=_after(2**job.attempts))
        return None


class Unacknowledged:
    """Jobs this process finished whose end the queue may not have stored.

    procrastinate stores a job's end (done, or retry later) after the task returns; when the
    database is down at that moment the job stays `doing` under a worker that is alive and
    heartbeating, so stalled-job recovery never takes it again. Each job finished here is
    looked at once, `grace` seconds later: one still `doing` is queued again (running a step
    twice is safe: a task that no longer waits drops the job)."""

    def __init__(self, grace: float = 10.0) -> None:
        self.grace = grace
        self._finished: dict[int, float] = {}  # job id -> monotonic time its task returned

    def finished(self, job_id: int | None) -> None:
        if job_id is not None:
            self._finished[job_id] = time.monotonic()

    def due(self) -> list[int]:
        """Job ids finished more than `grace` seconds ago, forgotten as they are returned."""
        cutoff = time.monotonic() - self.grace
        due = [job_id for job_id, at in self._finished.items() if at < cutoff]
        for job_id in due:
            del self._finished[job_id]
        return due


async def requeue_unacknowledged(app: App, ledger: Unacknowledged, every: float = 5.0) -> None:
    """Forever: queue again the jobs whose end was lost (`Unacknowledged`)."""
    while True:
        await asyncio.sleep(every)
        due = ledger.due()
        if not due:
            continue
        try:
            rows = await app.connector.execute_query_all_async(
                "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND id = ANY(%(ids)s)",
                ids=due,
            )
            for row in rows:
                log.warning("job %s ended but the queue did not store it; queued again", row["id"])
                await app.job_manager.retry_job_by_id_async(row["id"], retry_at=_after(0))
        except Exception as exc:  # the database is down again: look at them next time
            log.warning("could not look at finished jobs (%s); trying again", exc)
            for job_id in due:
                ledger.finished(job_id)


def build_app(
    conninfo: str,
    runner: StepRunner | None,
    runs: RunService | None,
    ledger: Unacknowledged | None = None,
    heartbeat: ThreadHeartbeat | None = None,
) -> App:
    """A procrastinate app whose tasks call the step runner and the run service; the jobs
    they finish are noted in `ledger`, the workers they run under kept beating by
    `heartbeat`."""
    book = ledger or Unacknowledged()

    def began(context: JobContext) -> None:
        if heartbeat is not None:
            heartbeat.watch(context.job.worker_id)

    # the queue's connections work at this process's priority too (a worker's: lower)
    connector = PsycopgConnector(conninfo=conninfo, configure=backend_priority.configure)
    app = App(connector=connector)

    @app.task(name=RUN_STEP_TASK, queue=STEP_QUEUE, pass_context=True, retry=StepRetry())
    async def run_step(context: JobContext, run_id: str, task_id: str) -> str:
        began(context)
        try:
            return await _run_step(context, run_id, task_id)
        finally:
            book.finished(context.job.id)

    async def _run_step(context: JobContext, run_id: str, task_id: str) -> str:
        assert runner is not None
        try:
            return await runner.run(UUID(run_id), UUID(task_id), attempt=context.job.attempts + 1)
        except RetryLater:
            raise
        except Exception as exc:
            if context.job.attempts < INFRA_ATTEMPTS - 1:
                log.warning("step job %s/%s failed (%r); retrying", run_id, task_id, exc)
                raise
            log.exception("step job %s/%s failed for good", run_id, task_id)
            error = OperatorError(
                f"internal error running this step: {type(exc).__name__}: "
                f"{exc}; retry the incident once the cause is fixed",
                code="internal_error",
            )
            return await runner.runs.fail_step(
                UUID(run_id),
                UUID(task_id),
                error=error,
                attempts=context.job.attempts + 1,
                operator="",
            )

    @app.task(name=START_RUN_TASK, queue=STEP_QUEUE, pass_context=True, retry=StepRetry())
    async def start_run(context: JobContext, run_id: str) -> None:
        assert runs is not None
        began(context)
        try:
            await runs.begin(UUID(run_id))
        finally:
            book.finished(context.job.id)

    @app.task(name=WAKE_RUN_TASK, queue=STEP_QUEUE, pass_context=True, retry=StepRetry())
    async def wake_run(context: JobContext, run_id: str) -> None:
        assert runs is not None
        began(context)
        try:
            await runs.wake(UUID(run_id))
        finally:
            book.finished(context.job.id)

    return app


async def recover_stalled(app: App, *, stalled_after: float, every: float = 5.0) -> None:
    """Forever: put jobs whose worker stopped sending heartbeats back in the queue."""
    while True:
        try:
            stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
            for job in stalled:
                log.warning(
                    "job %s (%s %s) stalled: its worker died; running it again",
                    job.id,
                    job.task_name,
                    job.task_kwargs,
                )
                await app.job_manager.retry_job(job)
            await app.job_manager.prune_stalled_workers(seconds_since_heartbeat=stalled_after)
        except Exception:  # keep recovering even when the database blips
            log.exception("stalled-job recovery failed; trying again")
        await asyncio.sleep(every)


async def run_worker(
    app: App,
    *,
    concurrency: int,
    stalled_after: float,
    name: str,
    ledger: Unacknowledged | None = None,
    heartbeat: ThreadHeartbeat | None = None,
) -> None:
    """Run a worker until it stops (cancelled, or its database connection lost), with the
    stalled-job recovery loop (and the `ledger`'s, and the `heartbeat`'s) beside it."""
    async with app.open_async():
        recovery = asyncio.create_task(recover_stalled(app, stalled_after=stalled_after))
        requeue = asyncio.create_task(requeue_unacknowledged(app, ledger or Unacknowledged()))
        if heartbeat is not None:
            heartbeat.forget()  # a new worker id from here on
        turning = asyncio.create_task(heartbeat.turning()) if heartbeat is not None else None
        try:
            await app.run_worker_async(
                queues=[STEP_QUEUE],
                concurrency=concurrency,
                name=name,
                install_signal_handlers=False,
                update_heartbeat_interval=max(stalled_after / 4, 1),
                stalled_worker_timeout=stalled_after,
                delete_jobs="successful",
                fetch_job_polling_interval=1.0,
            )
        finally:
            recovery.cancel()
            requeue.cancel()
            if turning is not None:
                turning.cancel()
