"""The learned failure policy: after a step fails, the next action is chosen, not fixed.

Actions: `retry` (the same model group, after the backoff delay), `switch` (another of the
step's model groups, at once; only for steps that route among groups), `escalate` (an
incident now: a person retries or resolves it), `fail` (the step fails for good: a boundary
error event catches it, else an incident). Rules first: a failure another attempt cannot fix,
or the last attempt, fails. A pinned DMN table decides next, where a rule matches. Otherwise
it learns between retry and switch per failure class and element: each choice's outcome is
whether the step then completed, and how long that took (`settle`), so the utility is the
chance to recover minus `TIME_WEIGHT` times the (relative) time to recover; retry, today's
behaviour, starts with `PRIOR_RETRY` pseudo-successes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from adapters.learning import LearningUnavailable, PolicyOutcome
from engine.errors import OperatorError
from engine.policies.bandit import choose
from engine.policies.router import arms_from

if TYPE_CHECKING:
    from engine.policies.service import Policies
    from engine.steps.contract import StepContext

ACTIONS = ("retry", "switch", "escalate", "fail")
PRIOR_RETRY = 2.0
TIME_WEIGHT = 0.5


def failure_class(error: OperatorError) -> str:
    """What kind of failure: the model call's kind (timeout, rate_limit, unavailable, …) when
    a model call failed, else the error's code (timeout, sandbox_unavailable, …)."""
    kind = getattr(error, "failure_kind", "")
    return str(kind or error.code)


@dataclass(frozen=True)
class Action:
    """What to do now, after how long, and the recorded decision."""

    action: str
    delay: float
    decision_id: int | None


async def after_failure(
    policies: Policies, ctx: StepContext, error: OperatorError, attempt: int
) -> Action:
    """Choose and record the action after attempt `attempt` of this step failed."""
    cls = failure_class(error)
    route = ctx.route or {}
    group = str(route.get("group") or ctx.usage.get("model_group") or "")
    context = {"failure_class": cls, "element": ctx.element_id, "group": group}
    evidence: dict[str, Any] = {
        "error": error.message[:500].replace("\x00", ""),
        "failure_class": cls,
        "attempt": attempt,
        "max_attempts": policies.max_attempts,
        "retryable": error.retryable,
    }
    failures = await policies.journal.failures(ctx.task_id)
    tried = {g for action, g in failures if action == "switch"} | {group}
    others = [
        g
        for g in route.get("candidates", [])
        if g not in tried and policies.models.health.down(g) is None
    ]
    allowed = _allowed(policies, error, attempt, others, evidence)
    action, explored = await _choose(policies, ctx, context, allowed, evidence)
    delay = policies.retry_base_seconds * 2 ** (attempt - 1) if action == "retry" else 0.0
    evidence["delay_s"] = delay
    decision_id = await policies.journal.record(
        ctx.run_id,
        ctx.task_id,
        ctx.element_id,
        "failure",
        context={**context, "task_type": ctx.task_type, "language": ctx.request.language},
        choice=action,
        explored=explored,
        evidence=evidence,
    )
    return Action(action, delay, decision_id)


def _allowed(
    policies: Policies,
    error: OperatorError,
    attempt: int,
    others: list[str],
    evidence: dict[str, Any],
) -> list[str]:
    """The actions possible now; `others`: the step's groups that are up and not yet tried
    (switch needs one)."""
    if not error.retryable:
        evidence["rule"] = "another attempt cannot fix this failure"
        return ["fail"]
    if attempt >= policies.max_attempts:
        evidence["rule"] = f"attempt {attempt} was the last of {policies.max_attempts}"
        return ["fail"]
    evidence["switch_to"] = others
    return ["retry", "switch", "escalate", "fail"] if others else ["retry", "escalate", "fail"]


async def _choose(
    policies: Policies,
    ctx: StepContext,
    context: dict[str, str],
    allowed: list[str],
    evidence: dict[str, Any],
) -> tuple[str, bool]:
    if len(allowed) == 1:
        return allowed[0], False
    pinned = await policies.journal.pinned_choice(
        "failure",
        context,
        allowed,
        evidence,
        unusable="which is not possible here",
        unmatched="no rule matched this failure",
    )
    if pinned is not None:
        return pinned, False
    learned = [a for a in allowed if a in ("retry", "switch")]
    if len(learned) == 1:
        evidence["rule"] = "retry: the step has no other model group to switch to"
        return "retry", False
    outcomes = policies.learning.outcomes
    try:
        rows = await outcomes.policy_stats("failure", failure_class=context["failure_class"])
    except LearningUnavailable as exc:
        evidence["stores"] = {"outcomes": {"unavailable": str(exc)}}
        evidence["rule"] = "retry (today's behaviour): the outcome store is unavailable"
        return "retry", False
    evidence["stores"] = {
        "outcomes": {
            "backend": str(getattr(outcomes, "backend", type(outcomes).__name__)),
            "asked": f"policy_stats(failure, {context['failure_class']})",
            "rows": len(rows),
        }
    }
    arms, share = arms_from(rows, learned, context["element"], {"retry": PRIOR_RETRY})
    picked = choose(
        arms,
        "speed",
        policies.rng,
        explore=policies.exploration,
        explored_share=share,
        weights=(TIME_WEIGHT, 0.0),
    )
    evidence.update(estimates=picked.estimates, explored_share=round(share, 3), rule=picked.why)
    return picked.choice, picked.explored


async def settle(policies: Policies, ctx: StepContext, task_id: UUID, success: bool) -> None:
    """The step ended: every failure decision made for it learns whether it recovered and
    how long that took."""
    for row in await policies.journal.settle(task_id, success):
        c = row["context"]
        if row["choice"] not in ("retry", "switch"):
            continue
        try:
            await policies.learning.outcomes.record_policy(
                PolicyOutcome(
                    policy="failure",
                    run_id=str(row["run_id"]),
                    task_id=str(task_id),
                    element=row["element_id"],
                    task_type=str(c.get("task_type") or ctx.task_type),
                    language=str(c.get("language") or ctx.request.language),
                    failure_class=str(c.get("failure_class") or ""),
                    choice=row["choice"],
                    success=success,
                    duration_ms=max(float(row["ms"]), 0.0),
                    explored=bool(row["explored"]),
                )
            )
        except LearningUnavailable:  # writes are buffered; a store that refuses loses one
            continue
