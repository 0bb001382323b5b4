"""Distilling learned policies into DMN: what each policy has learned per context, written
as a decision table (`export`), and where live evidence disagrees with a pinned table
(`drift`).

A context is what the policy's table takes as input (`dmn.INPUTS`): for the pattern, task
type and language (the outcome store's `pattern_stats`); for the router, step, task type and
language; for the failure policy, failure class and step (`policy_stats`). Its rule's output
is the choice with the best expected utility (no exploration), its annotation the evidence:
per choice, successes of tries, mean time and tokens.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.learning import ChoiceStats
from engine.decisions.rules import CANDIDATES, PRIOR_WEIGHT
from engine.policies.bandit import Arm, choose
from engine.policies.dmn import Rule, decide, table_xml
from engine.policies.failure import PRIOR_RETRY, TIME_WEIGHT
from engine.policies.router import arms_from

if TYPE_CHECKING:
    from engine.policies.service import Policies

LANGUAGES = ("python", "javascript", "go")
DRIFT_MARGIN = 0.1  # expected utility by which the learned choice must beat the table's


@dataclass(frozen=True)
class Context:
    """One input combination of a policy's table and what was learned there."""

    inputs: dict[str, str]
    arms: list[Arm]
    weights: tuple[float, float] | None = None


def _note(arms: list[Arm], estimates: dict[str, dict[str, Any]]) -> str:
    parts = []
    for a in sorted(arms, key=lambda a: -estimates[a.name]["utility"]):
        tried = a.successes + a.failures
        text = f"{a.name}: {a.successes:g} of {tried:g} succeeded"
        if a.mean_ms is not None:
            text += f", {a.mean_ms:.0f} ms"
        if a.mean_tokens:
            text += f", {a.mean_tokens:.0f} tokens"
        parts.append(text)
    return "; ".join(parts) or "no evidence yet"


async def contexts(policies: Policies, policy: str) -> list[Context]:
    """Every context the policy has evidence for (the pattern: every task type and language
    with more than one candidate pattern, evidence or not)."""
    outcomes = policies.learning.outcomes
    if policy == "pattern":
        found = []
        for task_type, options in CANDIDATES.items():
            if len(options) < 2:  # one pattern serves it: decide.pattern never asks
                continue
            for language in LANGUAGES:
                stats = {s.pattern: s for s in await outcomes.pattern_stats(task_type, language)}
                arms = [
                    Arm(
                        p,
                        stats[p].successes if p in stats else 0,
                        stats[p].failures if p in stats else 0,
                        prior=PRIOR_WEIGHT if i == 0 else 0.0,
                    )
                    for i, p in enumerate(options)
                ]
                found.append(Context({"task_type": task_type, "language": language}, arms))
        return found
    rows = await outcomes.policy_stats(policy)
    keys = (
        ("element", "task_type", "language") if policy == "route" else ("failure_class", "element")
    )
    grouped: dict[tuple[str, ...], list[ChoiceStats]] = defaultdict(list)
    for r in rows:
        grouped[tuple(getattr(r, k) for k in keys)].append(r)
    found = []
    for key, group in sorted(grouped.items()):
        choices = sorted(
            {r.choice for r in group} | ({"retry", "switch"} if policy == "failure" else set())
        )
        prior = {"retry": PRIOR_RETRY} if policy == "failure" else {}
        arms, _ = arms_from(group, choices, group[0].element, prior)
        weights = (TIME_WEIGHT, 0.0) if policy == "failure" else None
        found.append(Context(dict(zip(keys, key, strict=True)), arms, weights))
    return found


def _best(ctx: Context) -> tuple[str, dict[str, dict[str, Any]]]:
    rng = random.Random(0)  # noqa: S311 - unused without exploration
    picked = choose(ctx.arms, "quality", rng, explore=False, weights=ctx.weights)
    return picked.choice, picked.estimates


async def export(policies: Policies, policy: str) -> tuple[str, int]:
    """The policy as a DMN table (XML) and how many rules it has."""
    rules = []
    for ctx in await contexts(policies, policy):
        choice, estimates = _best(ctx)
        rules.append(Rule(ctx.inputs, choice, _note(ctx.arms, estimates)))
    if policy == "failure":  # today's behaviour for every other failure
        rules.append(Rule({}, "retry", "any other failure: retry (the behaviour before learning)"))
    return table_xml(policy, rules), len(rules)


async def drift(policies: Policies, policy: str, xml: str) -> list[dict[str, Any]]:
    """Contexts where the learned choice, with enough evidence, beats the pinned table's by
    at least `DRIFT_MARGIN` in expected utility."""
    found = []
    for ctx in await contexts(policies, policy):
        learned, estimates = _best(ctx)
        said = decide(xml, policy, ctx.inputs).output
        if said is None or said == learned or said not in estimates:
            continue
        tries = {a.name: a.successes + a.failures for a in ctx.arms}
        if min(tries[learned], tries[said]) < policies.min_evidence:
            continue
        gain = estimates[learned]["utility"] - estimates[said]["utility"]
        if gain >= DRIFT_MARGIN:
            found.append(
                {
                    "context": ctx.inputs,
                    "table_says": said,
                    "learned": learned,
                    "utility_gain": round(gain, 3),
                    "evidence": _note(ctx.arms, estimates),
                }
            )
    return found
