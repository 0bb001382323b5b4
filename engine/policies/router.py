"""Outcome-aware model routing: a step that names a set of model groups (`groups: auto` or a
list) gets the one a contextual bandit chooses for its element, task type and language.

Per group, the outcome store's `policy_stats("route", …)` counts the candidates whose tests
passed or failed (and calls that failed), with their mean model time and tokens; outcomes of
the same task type and language at other steps count at `POOLED_WEIGHT` (what is true of a
group for bug fixes elsewhere is likely true here). The group the diagram names starts with
`PRIOR` pseudo-successes; on an improve step, a group that fixed these failure signatures
before (the knowledge store's fix paths) gets one more per fix, up to `MAX_FIX_BONUS`.
`bandit.choose` weighs success against latency and tokens by the preference (`prefer`: the
run's option, else the diagram's, else quality). Groups that are down are never chosen; after
the failure policy chose "switch", neither is the group that failed; after "retry", the same
group answers again. A pinned DMN table decides instead, where a rule matches.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.learning import ChoiceStats, LearningUnavailable, PolicyOutcome
from engine.errors import OperatorError
from engine.policies.bandit import Arm, choose

if TYPE_CHECKING:
    from engine.policies.service import Policies
    from engine.steps.contract import StepContext

PRIOR = 1.0
POOLED_WEIGHT = 0.5
MAX_FIX_BONUS = 3


@dataclass(frozen=True)
class Route:
    """The chosen group and the decision as recorded (`policy_decisions`)."""

    group: str
    explored: bool
    decision_id: int
    candidates: list[str]


def candidates(policies: Policies, spec: str | list[str], element: str) -> list[str]:
    """The groups a step may use: `auto` (models.yaml's auto groups) or the listed ones."""
    models = policies.models
    wanted = models.auto_groups() if spec == "auto" else list(dict.fromkeys(spec))
    unknown = [g for g in wanted if not models.has_group(g)]
    if unknown or not wanted:
        raise OperatorError(
            f"step {element}: `groups` names model group(s) {', '.join(unknown) or '(none)'} "
            f"that models.yaml does not define; it defines {', '.join(models.groups())}",
            code="bad_parameters",
        )
    return wanted


def arms_from(
    rows: list[ChoiceStats], usable: list[str], element: str, prior: dict[str, float]
) -> tuple[list[Arm], float]:
    """One arm per usable group from the stats rows (this step's in full, the rest pooled),
    and the share of this step's choices that explored."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    explored = total = 0
    for r in rows:
        weight = 1.0 if r.element == element else POOLED_WEIGHT
        n = r.successes + r.failures
        s = sums[r.choice]
        s[0] += weight * r.successes
        s[1] += weight * r.failures
        s[2] += weight * n * r.mean_ms
        s[3] += weight * n * r.mean_tokens
        s[4] += weight * n
        if r.element == element:
            explored, total = explored + r.explored, total + n
    arms = []
    for g in usable:
        t = sums.get(g)
        if t is None or t[4] == 0:
            arms.append(Arm(g, prior=prior.get(g, 0.0)))
            continue
        arms.append(Arm(g, t[0], t[1], t[2] / t[4], t[3] / t[4], prior=prior.get(g, 0.0)))
    return arms, (explored / total if total else 0.0)


async def route(
    policies: Policies,
    ctx: StepContext,
    spec: str | list[str],
    *,
    named: str,
    prefer: str,
    signatures: list[str] | None = None,
) -> Route:
    """Choose the model group for this step and record the decision."""
    element, language = ctx.element_id, ctx.request.language
    context = {"element": element, "task_type": ctx.task_type, "language": language}
    groups = candidates(policies, spec, element)
    down = {g: why for g in groups if (why := policies.models.health.down(g))}
    failures = await policies.journal.failures(ctx.task_id)
    switched = {g for action, g in failures if action == "switch"}
    up = [g for g in groups if g not in down]
    last = failures[-1][1] if failures else None
    usable = [g for g in up if g not in switched] or [g for g in up if g != last] or up
    evidence: dict[str, Any] = {
        "candidates": groups,
        "prefer": prefer,
        "context": context,
        "down": down,
        "switched_from": sorted(switched),
    }
    if not usable:  # every group is down: the least recently failed may be back
        usable = groups
        evidence["rule"] = "every group is down; choosing among them all"
    choice, explored = await _choose(
        policies, ctx, context, usable, named, prefer, signatures, evidence, failures
    )
    decision_id = await policies.journal.record(
        ctx.run_id,
        ctx.task_id,
        element,
        "route",
        context={**context, "group": choice, "prefer": prefer},
        choice=choice,
        explored=explored,
        evidence=evidence,
    )
    return Route(choice, explored, decision_id, groups)


async def _choose(
    policies: Policies,
    ctx: StepContext,
    context: dict[str, str],
    usable: list[str],
    named: str,
    prefer: str,
    signatures: list[str] | None,
    evidence: dict[str, Any],
    failures: list[tuple[str, str]],
) -> tuple[str, bool]:
    if failures and failures[-1][0] == "retry" and failures[-1][1] in usable:
        group = failures[-1][1]
        evidence["rule"] = f"the failure policy retries {group}"
        return group, False
    pinned = await policies.journal.pinned_choice(
        "route",
        context,
        usable,
        evidence,
        unusable="which is not usable here",
        unmatched="no rule matched this step",
    )
    if pinned is not None:
        return pinned, False
    if len(usable) == 1:
        evidence["rule"] = f"only {usable[0]} is usable"
        return usable[0], False
    outcomes = policies.learning.outcomes
    try:
        rows = await outcomes.policy_stats(
            "route", task_type=context["task_type"], language=context["language"]
        )
    except LearningUnavailable as exc:
        evidence["stores"] = {"outcomes": {"backend": _backend(outcomes), "unavailable": str(exc)}}
        group = named if named in usable else usable[0]
        evidence["rule"] = f"the diagram's group {group}: the outcome store is unavailable"
        return group, False
    evidence["stores"] = {
        "outcomes": {
            "backend": _backend(outcomes),
            "asked": f"policy_stats(route, {context['task_type']}, {context['language']})",
            "rows": len(rows),
        }
    }
    prior = {named: PRIOR} if named in usable else {}
    if signatures:
        await _fix_bonus(policies, signatures, context["language"], usable, prior, evidence)
    arms, share = arms_from(rows, usable, context["element"], prior)
    picked = choose(arms, prefer, policies.rng, explore=policies.exploration, explored_share=share)
    evidence.update(estimates=picked.estimates, explored_share=round(share, 3), rule=picked.why)
    return picked.choice, picked.explored


async def _fix_bonus(
    policies: Policies,
    signatures: list[str],
    language: str,
    usable: list[str],
    prior: dict[str, float],
    evidence: dict[str, Any],
) -> None:
    """Groups that fixed these failure signatures before start ahead (the knowledge graph)."""
    knowledge = policies.learning.knowledge
    try:
        paths = await knowledge.fix_paths(signatures, language)
    except LearningUnavailable as exc:
        evidence["stores"]["knowledge"] = {"backend": _backend(knowledge), "unavailable": str(exc)}
        return
    fixed: dict[str, int] = defaultdict(int)
    for p in paths:
        if p.fixed and p.model_group in usable:
            fixed[p.model_group] += p.fixed
    for g, n in fixed.items():
        prior[g] = prior.get(g, 0.0) + min(n, MAX_FIX_BONUS)
    evidence["stores"]["knowledge"] = {
        "backend": _backend(knowledge),
        "asked": f"fix_paths for {len(signatures)} signature(s)",
        "fixed_by": dict(fixed),
    }


def _backend(store: Any) -> str:
    return str(getattr(store, "backend", type(store).__name__))


async def record_outcome(
    policies: Policies,
    ctx: StepContext,
    routed: dict[str, Any],
    *,
    success: bool,
    duration_ms: float,
    tokens: int = 0,
) -> None:
    """Teach the router how its choice `routed` (a step result's `route`) did: the
    candidate's tests passed or not (validation), or the model call failed (the runner);
    once per decision."""
    decision = routed.get("decision")
    if isinstance(decision, int) and not await policies.journal.settle_route(decision, success):
        return
    try:
        await policies.learning.outcomes.record_policy(
            PolicyOutcome(
                policy="route",
                run_id=str(ctx.run_id),
                task_id=str(routed.get("task_id") or ctx.task_id),
                element=str(routed.get("element") or ctx.element_id),
                task_type=ctx.task_type,
                language=ctx.request.language,
                choice=str(routed["group"]),
                success=success,
                duration_ms=max(duration_ms, 0.0),
                tokens=max(tokens, 0),
                explored=bool(routed.get("explored")),
            )
        )
    except LearningUnavailable:  # buffered writes; a refused one is counted by the store
        return
