"""Decision operators: `decide.pattern` and `decide.next`, each {choice, evidence, confidence}.

Both start from a rule (the prior) and consult both learning roles: the outcome store (counts
per task type; InfluxDB in production) and the knowledge store (similar earlier requests and
failure → fix paths; Neo4j in production). The evidence names each store, what it was asked
and what came back — or that it was unavailable, in which case the decision is made from what
the other store and the rules say. A person can see why a run went the way it did.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, Field

from adapters.learning import LearningUnavailable, MemoryQuery, PatternStats
from engine.decisions.rules import CANDIDATES, PRIOR_WEIGHT
from engine.learning.signatures import signatures
from engine.memory.embedder import embed
from engine.memory.rank import QueryContext, features, relevant
from engine.ops import OPERATORS
from engine.steps.contract import StepContext

NEIGHBOURS = 10  # similar earlier requests weighed by decide.pattern
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
    pinned = await _pinned(ctx, candidates, task_type, language, evidence)
    if pinned is not None:
        return {"choice": pinned, "confidence": 1.0, "evidence": evidence}
    learning = ctx.services.learning
    stores: dict[str, Any] = {}
    rows: list[PatternStats] | None = None
    try:
        rows = await learning.outcomes.pattern_stats(task_type, language)
        stores["outcomes"] = {
            "backend": _backend(learning.outcomes),
            "asked": f"pattern_stats({task_type}, {language})",
            "rows": len(rows),
        }
    except LearningUnavailable as exc:
        stores["outcomes"] = {"backend": _backend(learning.outcomes), "unavailable": str(exc)}
    near = await _neighbours(ctx, candidates, task_type)
    stores["knowledge"] = near.pop("store")
    evidence["stores"] = stores
    if rows is None and not near["counts"]:
        evidence["rule"] = "rules' choice: learning stores unavailable"
        evidence["learning_error"] = stores["outcomes"]["unavailable"]
        return {
            "choice": prior,
            "confidence": float(inputs.intent.get("confidence", 0.5)),
            "evidence": evidence,
        }
    stats = {s.pattern: s for s in rows or []}
    for pattern, (wins, losses) in near["counts"].items():  # similar requests count again
        s = stats.get(pattern)
        stats[pattern] = PatternStats(
            pattern=pattern,
            successes=(s.successes if s else 0) + wins,
            failures=(s.failures if s else 0) + losses,
        )
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


async def _pinned(
    ctx: StepContext,
    candidates: list[str],
    task_type: str,
    language: str,
    evidence: dict[str, Any],
) -> str | None:
    """The pattern a pinned DMN table gives for this request (None: learning decides)."""
    policies = ctx.services.policies
    if policies is None:
        return None
    return await policies.journal.pinned_choice(
        "pattern",
        {"task_type": task_type, "language": language},
        candidates,
        evidence,
        unusable=f"which cannot serve a {task_type} request",
        unmatched=f"no rule matched {task_type} in {language}",
    )


def _backend(store: Any) -> str:
    return str(getattr(store, "backend", type(store).__name__))


async def _neighbours(ctx: StepContext, candidates: list[str], task_type: str) -> dict[str, Any]:
    """Outcomes of similar earlier requests of the same task type (same language; this
    project's or no project's) from the knowledge store: per pattern (successes, failures).
    "Similar" is recall's gate (engine/memory/rank.py `relevant`). A person's rejection
    counts as a failure of the pattern that produced the code. Similar requests are also in
    the per-task-type counts, so they weigh twice: the nearest evidence counts most."""
    knowledge = ctx.services.learning.knowledge
    request = ctx.request
    vectors, embedding = await embed(ctx.services.models, [request.text])
    query = MemoryQuery(
        text=request.text,
        language=request.language,
        embedding=vectors[0] if vectors else None,
        project=request.project or "",
        kinds=["outcome", "correction"],
        limit=NEIGHBOURS,
    )
    store: dict[str, Any] = {
        "backend": _backend(knowledge),
        "asked": f"memory_candidates(similar requests, {request.language}, kinds outcome and "
        f"correction, {NEIGHBOURS} at most)",
        "embedding": embedding,
    }
    counts: dict[str, tuple[int, int]] = {}
    try:
        found = await knowledge.memory_candidates(query)
    except LearningUnavailable as exc:
        store["unavailable"] = str(exc)
        return {"store": store, "counts": counts}
    context = QueryContext(purpose="first", text=request.text, embedded=vectors is not None)
    shown = []
    for c, f in zip(found, features(found, context), strict=True):
        m = c.memory
        if m.pattern not in candidates or m.success is None or not relevant(f, context):
            continue
        if m.task_type and m.task_type != task_type:
            continue
        wins, losses = counts.get(m.pattern, (0, 0))
        counts[m.pattern] = (wins + 1, losses) if m.success else (wins, losses + 1)
        shown.append(
            {"run_id": m.run_id, "kind": m.kind, "pattern": m.pattern, "success": m.success}
        )
    store.update(neighbours=shown, per_pattern={p: list(v) for p, v in counts.items()})
    return {"store": store, "counts": counts}


class NextInput(BaseModel):
    """The validation result, the loop bound and whether a person may be asked."""

    report: dict[str, Any]
    max_iterations: int = Field(3, ge=0, le=20, description="improve iterations at most")
    escalate: bool = Field(True, description="stuck code that nearly passes goes to a person")


NO_GAIN_ITERATIONS = 2  # the loop has converged when this many improve iterations gained nothing
MIN_GAIN = 0.01  # a score must rise by at least this to count as an improvement


async def _improve_chance(
    ctx: StepContext, sigs: list[str], evidence: dict[str, Any]
) -> tuple[float | None, int]:
    """(the chance that another improve iteration helps, fixes known for these failures).

    The outcome store counts improve iterations on these signatures that helped; the knowledge
    store's failure → fix → outcome paths say whether (and by which model group) they were
    fixed before. The chance is Laplace-smoothed over the iteration counts, or over the paths
    when the outcome store is unavailable; None when neither answers."""
    learning = ctx.services.learning
    language = ctx.request.language
    stores: dict[str, Any] = {}
    chance = None
    helped = total = 0
    try:
        for sig in sigs:
            h, t = await learning.outcomes.iteration_stats(sig, language)
            helped, total = helped + h, total + t
        stores["outcomes"] = {
            "backend": _backend(learning.outcomes),
            "asked": f"iteration_stats for {len(sigs)} signature(s)",
            "helped": helped,
            "iterations": total,
        }
    except LearningUnavailable as exc:
        stores["outcomes"] = {"backend": _backend(learning.outcomes), "unavailable": str(exc)}
        evidence["learning_error"] = str(exc)
    fixed = tried = 0
    try:
        paths = await learning.knowledge.fix_paths(sigs, language)
        fixed, tried = sum(p.fixed for p in paths), sum(p.tried for p in paths)
        stores["knowledge"] = {
            "backend": _backend(learning.knowledge),
            "asked": f"fix_paths for {len(sigs)} signature(s)",
            "paths": [p.model_dump() for p in paths][:10],
            "fixed_by": sorted({p.model_group for p in paths if p.fixed and p.model_group}),
        }
    except LearningUnavailable as exc:
        stores["knowledge"] = {"backend": _backend(learning.knowledge), "unavailable": str(exc)}
    if "unavailable" not in stores["outcomes"]:
        chance = (helped + 1) / (total + 2)  # Laplace: 0.5 with no history
        evidence["history"] = {"helped": helped, "iterations": total}
    elif "unavailable" not in stores["knowledge"]:
        chance = (fixed + 1) / (tried + 2)
        evidence["history"] = {"helped": fixed, "iterations": tried}
    if chance is not None:
        evidence["history"].update(chance_next_helps=round(chance, 3), fixed_before=fixed)
    evidence["stores"] = stores
    return chance, fixed


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
    fixed_before = 0
    if not passed and sigs:
        chance, fixed_before = await _improve_chance(ctx, sigs, evidence)
    min_evidence = ctx.services.settings.min_evidence
    hopeless = (
        chance is not None
        and chance < 0.1
        and evidence["history"]["iterations"] >= min_evidence
        and not fixed_before  # the graph knows a fix for this failure: keep trying
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
