"""Running one step job: load the waiting task, run its operator, hand back result or failure."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from opentelemetry.trace import Status, StatusCode

from adapters.learning import StepOutcome
from engine.errors import OperatorError, RetryableOperatorError, is_infrastructure
from engine.json_limits import MAX_RESULT_BYTES, JsonTooLarge, check_json
from engine.policies.failure import Action, after_failure, settle
from engine.policies.router import record_outcome
from engine.runs import ParamError, RunService
from engine.runs.artifacts import RunStore
from engine.steps.contract import OperatorRegistry, Services, StepContext
from engine.telemetry import tracer

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raised to the job queue: run this job again after `delay` seconds."""

    def __init__(self, delay: float, message: str) -> None:
        super().__init__(message)
        self.delay = delay


class StepRunner:
    """Runs operators for step jobs and reports back to the run service."""

    def __init__(
        self,
        runs: RunService,
        operators: OperatorRegistry,
        services: Services,
        *,
        max_attempts: int,
        retry_base_seconds: float,
        step_timeout: float = 600.0,
    ) -> None:
        self.runs = runs
        self.operators = operators
        self.services = services
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.step_timeout = step_timeout

    async def run(self, run_id: UUID, task_id: UUID, *, attempt: int) -> str:
        """Run the step once; returns what happened (completed, dropped, incident, …)."""
        step = await self.runs.prepare_step(run_id, task_id)
        if step is None:
            log.info("job for run %s task %s: the task no longer waits; dropped", run_id, task_id)
            return "dropped"
        ctx = StepContext(
            **step.info(),
            attempt=attempt,
            store=RunStore(self.runs.db, run_id, task_id, step.element_id, step.process_id),
            services=self.services,
        )
        attrs: dict[str, Any] = {
            "weavergen.run_id": str(run_id),
            "weavergen.step": step.element_id,
            "weavergen.process": step.process_id,
            "weavergen.operator": step.operator,
            "weavergen.pattern": step.pattern or step.process_id,
            "weavergen.attempt": attempt,
            "weavergen.visit": step.visit,
            "weavergen.task_id": str(task_id),
            "weavergen.task_type": step.task_type,
            "weavergen.language": step.request.language,
        }
        start = time.perf_counter()
        with tracer.start_as_current_span(f"step {step.element_id}", attributes=attrs) as span:
            try:
                operator = self.operators.get(step.operator)
                bad = [p for p in step.params.values() if isinstance(p, ParamError)]
                if bad:
                    raise OperatorError(str(bad[0]), code="bad_parameters")
                inputs = operator.parse_inputs(step.params)
                result = await asyncio.wait_for(operator.fn(inputs, ctx), self.step_timeout)
                what = f"step {step.element_id}: the result of {step.operator}"
                check_json(result, what, max_bytes=MAX_RESULT_BYTES)
            except JsonTooLarge as exc:  # e.g. a model answer parsed into deep data
                error: OperatorError = OperatorError(exc.message, code="result_too_large")
            except TimeoutError:
                error = RetryableOperatorError(
                    f"step {step.element_id}: operator {step.operator} ran longer than "
                    f"{self.step_timeout:.0f} s",
                    code="timeout",
                )
            except OperatorError as exc:
                error = exc
            except Exception as exc:  # a bug in an operator: keep the run, raise an incident
                if is_infrastructure(exc):  # the job retries it with backoff (StepRetry)
                    log.warning("step %s: database unavailable (%s)", step.element_id, exc)
                    raise
                log.exception("operator %s crashed", step.operator)
                error = OperatorError(
                    f"step {step.element_id}: operator {step.operator} crashed: "
                    f"{type(exc).__name__}: {exc}",
                    code="operator_crashed",
                )
            else:
                duration = (time.perf_counter() - start) * 1000
                span.set_attributes(_usage_attrs(ctx.usage, duration, "completed"))
                score = result.get("score")
                score = float(score) if isinstance(score, int | float) else None
                if score is not None:
                    span.set_attribute("weavergen.score", score)
                applied = await self.runs.complete_step(
                    run_id,
                    task_id,
                    operator=step.operator,
                    result=result,
                    usage=ctx.usage,
                    duration_ms=duration,
                    attempt=attempt,
                    decision=operator.decision,
                    finishes=operator.finishes,
                    classifies=operator.classifies,
                    learned=_outcome(ctx, duration, True, score),
                )
                if applied and attempt > 1 and self.services.policies is not None:
                    await settle(self.services.policies, ctx, task_id, True)
                return "completed" if applied else "dropped"
            duration = (time.perf_counter() - start) * 1000
            span.set_attributes(_usage_attrs(ctx.usage, duration, "failed"))
            span.set_status(Status(StatusCode.ERROR, error.message))
            learned = _outcome(ctx, duration, False, None)
        action = await self._next_action(ctx, error, attempt, duration)
        if action.action in ("retry", "switch"):
            await self.runs.record_attempt(run_id, task_id, attempt, error.message, learned)
            log.warning(
                "step %s attempt %d failed, %s in %.1fs: %s",
                step.element_id,
                attempt,
                "retrying" if action.action == "retry" else "switching model group",
                action.delay,
                error.message,
            )
            raise RetryLater(action.delay, error.message)
        outcome = await self.runs.fail_step(
            run_id,
            task_id,
            error=error,
            attempts=attempt,
            operator=step.operator,
            learned=learned,
            boundary=action.action != "escalate",
        )
        if self.services.policies is not None and outcome != "dropped":
            await settle(self.services.policies, ctx, task_id, False)
        log.warning(
            "step %s failed after %d attempt(s) -> %s: %s",
            step.element_id,
            attempt,
            outcome,
            error.message,
        )
        return outcome

    async def _next_action(
        self, ctx: StepContext, error: OperatorError, attempt: int, duration_ms: float
    ) -> Action:
        """Retry, switch group, escalate or fail: the failure policy's choice (engine/policies),
        or today's rule (retry with backoff while attempts remain) without it."""
        policies = self.services.policies
        if policies is None:
            if error.retryable and attempt < self.max_attempts:
                return Action("retry", self.retry_base_seconds * 2 ** (attempt - 1), None)
            return Action("fail", 0.0, None)
        if ctx.route is not None and error.failure_kind:  # the routed group's call failed
            await record_outcome(policies, ctx, ctx.route, success=False, duration_ms=duration_ms)
        return await after_failure(policies, ctx, error, attempt)


def _outcome(
    ctx: StepContext, duration_ms: float, success: bool, score: float | None
) -> StepOutcome:
    """What a finished step teaches: the learning record of this attempt."""
    return StepOutcome(
        run_id=str(ctx.run_id),
        task_id=str(ctx.task_id),
        pattern=ctx.pattern or ctx.process_id,
        step=ctx.element_id,
        operator=ctx.operator,
        model_group=str(ctx.usage.get("model_group", "")),
        deployment=str(ctx.usage.get("deployment", "")),
        language=ctx.request.language,
        task_type=ctx.task_type,
        success=success,
        duration_ms=duration_ms,
        tokens_in=int(ctx.usage.get("tokens_in", 0)),
        tokens_out=int(ctx.usage.get("tokens_out", 0)),
        score=score,
        attempt=ctx.attempt,
        iteration=ctx.visit,
    )


def _usage_attrs(usage: Mapping[str, Any], duration_ms: float, outcome: str) -> dict[str, Any]:
    return {
        "weavergen.outcome": outcome,
        "weavergen.duration_ms": duration_ms,
        "weavergen.tokens_in": int(usage.get("tokens_in", 0)),
        "weavergen.tokens_out": int(usage.get("tokens_out", 0)),
        "weavergen.model_group": str(usage.get("model_group", "")),
        "weavergen.deployment": str(usage.get("deployment", "")),
    }
