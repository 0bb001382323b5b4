"""Thompson sampling over arms (model groups, failure actions) with a preference-weighted
utility and a bounded exploration share.

An arm's success rate has a Beta posterior (1 + successes + prior, 1 + failures); its cost is
its mean latency and mean tokens, each divided by the largest mean among the arms (so both
lie in [0, 1]). utility = P(success) - w_latency * latency - w_tokens * tokens, with the
weights of the preference (`PREFERENCES`). The sampled utility picks the arm; when that is
not the arm with the best expected utility, the choice is an exploration step, allowed while
the context's share of exploration steps stays under `max_explore_share` (an arm tried fewer
than `MIN_TRIES` times may always be explored, so every arm is tried at all).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

Preference = Literal["quality", "speed", "cost"]
# (latency weight, tokens weight) per preference: quality breaks ties by cost only
PREFERENCES: dict[str, tuple[float, float]] = {
    "quality": (0.02, 0.02),
    "speed": (0.4, 0.0),
    "cost": (0.0, 0.4),
}
MAX_EXPLORE_SHARE = 0.2
MIN_TRIES = 2


@dataclass(frozen=True)
class Arm:
    """What is known of one arm in one context."""

    name: str
    successes: float = 0.0
    failures: float = 0.0
    mean_ms: float | None = None  # None: never measured
    mean_tokens: float | None = None
    prior: float = 0.0  # pseudo-successes: the diagram's / today's choice starts ahead

    @property
    def tries(self) -> float:
        return self.successes + self.failures


@dataclass
class Choice:
    """The chosen arm and why, with every arm's estimate (the decision's evidence)."""

    choice: str
    explored: bool
    why: str
    estimates: dict[str, dict[str, Any]] = field(default_factory=dict)


def _scale(values: list[float | None]) -> tuple[float, float]:
    known = [v for v in values if v is not None]
    if not known:
        return 0.0, 0.0
    return max(known), sum(known) / len(known)


def choose(
    arms: list[Arm],
    prefer: str,
    rng: random.Random,
    *,
    explore: bool = True,
    explored_share: float = 0.0,
    max_explore_share: float = MAX_EXPLORE_SHARE,
    weights: tuple[float, float] | None = None,
) -> Choice:
    """Choose one of `arms` (at least one) under preference `prefer`."""
    if not arms:
        raise ValueError("choose needs at least one arm")
    w_ms, w_tokens = weights or PREFERENCES.get(prefer, PREFERENCES["quality"])
    max_ms, avg_ms = _scale([a.mean_ms for a in arms])
    max_tokens, avg_tokens = _scale([a.mean_tokens for a in arms])
    estimates: dict[str, dict[str, Any]] = {}
    for arm in arms:
        alpha, beta = 1 + arm.successes + arm.prior, 1 + arm.failures
        ms = arm.mean_ms if arm.mean_ms is not None else avg_ms  # unknown: the average
        tokens = arm.mean_tokens if arm.mean_tokens is not None else avg_tokens
        cost = w_ms * (ms / max_ms if max_ms else 0.0) + w_tokens * (
            tokens / max_tokens if max_tokens else 0.0
        )
        mean = alpha / (alpha + beta)
        sampled = rng.betavariate(alpha, beta) if explore else mean
        estimates[arm.name] = {
            "successes": round(arm.successes, 2),
            "failures": round(arm.failures, 2),
            "prior": arm.prior,
            "success_mean": round(mean, 4),
            "success_sampled": round(sampled, 4),
            "mean_ms": None if arm.mean_ms is None else round(arm.mean_ms, 1),
            "mean_tokens": None if arm.mean_tokens is None else round(arm.mean_tokens, 1),
            "utility": round(mean - cost, 4),
            "utility_sampled": round(sampled - cost, 4),
        }
    best = max(arms, key=lambda a: estimates[a.name]["utility"]).name
    picked = max(arms, key=lambda a: estimates[a.name]["utility_sampled"])
    if picked.name == best:
        return Choice(best, False, f"{best} has the best expected utility", estimates)
    if picked.tries < MIN_TRIES:
        why = f"exploring {picked.name}: tried {picked.tries:.0f} time(s) so far"
        return Choice(picked.name, True, why, estimates)
    if explored_share >= max_explore_share:
        why = (
            f"{best} has the best expected utility ({picked.name} sampled higher, but "
            f"{explored_share:.0%} of choices here explored already, at most "
            f"{max_explore_share:.0%})"
        )
        return Choice(best, False, why, estimates)
    why = f"exploring {picked.name}: its sampled utility beat {best}'s"
    return Choice(picked.name, True, why, estimates)
