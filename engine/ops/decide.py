"""Decision operators: `decide.pattern` and `decide.next`, each {choice, evidence, confidence}.

Both start from a rule (the prior) and consult the learning store; the evidence names what
was asked and what came back, so a person can see why a run went the way it did.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, Field

from adapters.learning import LearningUnavailable, PatternStats
from engine.learning.signatures import signatures
from engine.ops import OPERATORS
from engine.steps.contract import StepContext

# patterns that can serve a task type; learning only chooses among these
CANDIDATES: dict[str, list[str]] = {
    "function": ["quick", "standard"],
    "feature": ["standard", "quick"],
    "unknown": ["standard", "quick"],
    "bug_fix": ["bug_fix"],
    "schema_change": ["migration"],
}
PRIOR_WEIGHT = 2.0  # pseudo-successes the rules' choice starts with
ESCALATE_SCORE = 0.5  # stuck code scoring at least this goes to a person instead of failing


class PatternInput(BaseModel):
    """The classification to decide from."""

    intent: dict[str, Any]


def thompson(
    prior: str,
    candidates: list[str],
    stats: dict[str, PatternStats],
    *,
    min_evidence: int,
    rng: random.Random,
    explore: bool = True,
) -> tuple[str, dict[str, Any], str]:
    """Sample each candidate's success rate from its Beta posterior and pick the best.

    The rules' choice starts with PRIOR_WEIGHT pseudo-successes. A candidate other than the
    prior wins outright only with at least `min_evidence` runs of its own; below that, a win
    is an exploration step, taken so a better pattern can be discovered at all. Without
    exploration the posterior means decide, and only candidates with enough evidence count.
    """
    samples: dict[str, Any] = {}
    for pattern in candidates:
        s = stats.get(pattern)
        wins, losses = (s.successes, s.failures) if s else (0, 0)
        alpha = 1 + wins + (PRIOR_WEIGHT if pattern == prior else 0)
        beta = 1 + losses
        samples[pattern] = {
            "successes": wins,
            "failures": losses,
            "alpha": alpha,
            "beta": beta,
            "sampled": round(rng.betavariate(alpha, beta), 4),
            "mean": round(alpha / (alpha + beta), 4),
        }
    if explore:
        best = max(candidates, key=lambda p: samples[p]["sampled"])
    else:
        proven = [
            p
            for p in candidates
            if p == prior or samples[p]["successes"] + samples[p]["failures"] >= min_evidence
        ]
        best = max(proven, key=lambda p: samples[p]["mean"])
    if best == prior:
        why = "the rules' choice sampled highest"
    elif samples[best]["successes"] + samples[best]["failures"] >= min_evidence:
        why = f"learned: {best} sampled higher with enough evidence"
    else:
        why = f"exploring {best} (fewer than {min_evidence} runs so far)"
    return best, samples, why


@OPERATORS.register("decide.pattern", PatternInput, decision=True)
async def decide_pattern(inputs: PatternInput, ctx: StepContext) -> dict[str, Any]:
    """Choose the pattern: the user's, else Thompson sampling around the rules' choice."""
    requested = ctx.request.pattern
    prior = requested or inputs.intent.get("pattern") or "standard"
    task_type = str(inputs.intent.get("task_type") or "unknown")
    language = ctx.request.language
    evidence: dict[str, Any] = {
        "requested_pattern": requested,
        "classification": inputs.intent,
        "prior": prior,
        "query": {"task_type": task_type, "language": language},
    }
    candidates = CANDIDATES.get(task_type, [prior])
    if prior not in candidates:
        candidates = [prior, *candidates]
    if requested or len(candidates) == 1:
        evidence["rule"] = "user's pattern" if requested else "only pattern for this task type"
        return {
            "choice": prior,
            "confidence": 1.0 if requested else float(inputs.intent.get("confidence", 0.5)),
            "evidence": evidence,
        }
    try:
        rows = await ctx.services.learning.outcomes.pattern_stats(task_type, language)
    except LearningUnavailable as exc:
        evidence["rule"] = "rules' choice: learning store unavailable"
        evidence["learning_error"] = str(exc)
        return {
            "choice": prior,
            "confidence": float(inputs.intent.get("confidence", 0.5)),
            "evidence": evidence,
        }
    stats = {s.pattern: s for s in rows}
    choice, samples, why = thompson(
        prior,
        candidates,
        stats,
        min_evidence=ctx.services.settings.min_evidence,
        rng=random.Random(),  # noqa: S311 - exploration, not security
        explore=ctx.services.settings.exploration,
    )
    evidence.update(candidates=samples, rule=why)
    return {"choice": choice, "confidence": samples[choice]["mean"], "evidence": evidence}


class NextInput(BaseModel):
    """The validation result, the loop bound and whether a person may be asked."""

    report: dict[str, Any]
    max_iterations: int = Field(3, ge=0, le=20, description="improve iterations at most")
    escalate: bool = Field(True, description="stuck code that nearly passes goes to a person")


NO_GAIN_ITERATIONS = 2  # the loop has converged when this many improve iterations gained nothing
MIN_GAIN = 0.01  # a score must rise by at least this to count as an improvement


def converged(scores: list[float]) -> bool:
    """True when each of the last `NO_GAIN_ITERATIONS` iterations failed to beat the best
    score before it (scores: one per validation, oldest first)."""
    if len(scores) <= NO_GAIN_ITERATIONS:
        return False
    for i in range(len(scores) - NO_GAIN_ITERATIONS, len(scores)):
        if scores[i] >= max(scores[:i]) + MIN_GAIN:
            return False
    return True


@OPERATORS.register("decide.next", NextInput, decision=True)
async def decide_next(inputs: NextInput, ctx: StepContext) -> dict[str, Any]:
    """Accept passing code; improve while iterations remain and improving has helped before
    for these failures; otherwise escalate nearly-passing code to a person, or reject."""
    iteration = ctx.visit
    report = inputs.report
    passed = bool(report.get("passed"))
    score = float(report.get("score") or 0.0)
    sigs = signatures(report.get("findings") or [])
    earlier = [
        float((r.get("evidence") or {}).get("score") or 0.0)
        for r in await ctx.store.earlier_results()
    ]
    scores = [*earlier, score]
    evidence: dict[str, Any] = {
        "passed": passed,
        "score": report.get("score"),
        "scores": scores,
        "iteration": iteration,
        "max_iterations": inputs.max_iterations,
        "findings": len(report.get("findings") or []),
        "signatures": sigs,
    }
    chance = None
    if not passed and sigs:
        helped = total = 0
        try:
            for sig in sigs:
                h, t = await ctx.services.learning.outcomes.iteration_stats(
                    sig, ctx.request.language
                )
                helped, total = helped + h, total + t
            chance = (helped + 1) / (total + 2)  # Laplace: 0.5 with no history
            evidence["history"] = {
                "helped": helped,
                "iterations": total,
                "chance_next_helps": round(chance, 3),
            }
        except LearningUnavailable as exc:
            evidence["learning_error"] = str(exc)
    min_evidence = ctx.services.settings.min_evidence
    hopeless = (
        chance is not None and chance < 0.1 and evidence["history"]["iterations"] >= (min_evidence)
    )
    # iterations done so far = validations - 1; the bound counts improve iterations
    bound_reached = iteration > inputs.max_iterations
    no_gain = converged(scores)
    stuck = bound_reached or hopeless or no_gain
    if passed:
        choice, why, confidence = "accept", "validation passed", 1.0
    elif stuck and inputs.escalate and score >= ESCALATE_SCORE:
        choice = "escalate"
        why = f"score {score:.2f} is close; a person decides after {iteration} validation(s)" + (
            " (more iterations have rarely helped)" if hopeless else ""
        )
        confidence = score
    elif no_gain:
        choice = "reject"
        why = f"converged: the last {NO_GAIN_ITERATIONS} iterations brought no improvement"
        confidence = 1.0
    elif bound_reached:
        choice = "reject"
        why = f"validation still failing after {inputs.max_iterations} improve iteration(s)"
        confidence = 1.0
    elif hopeless:
        choice, why = "reject", "another iteration has almost never helped with these failures"
        confidence = 1 - float(chance or 0)
    else:
        choice = "improve"
        why = f"validation failed; improve iteration {iteration} of {inputs.max_iterations}"
        confidence = float(chance) if chance is not None else 0.5
    evidence["rule"] = why
    return {
        "choice": choice,
        "confidence": round(confidence, 3),
        "iteration": iteration,
        "evidence": evidence,
    }
