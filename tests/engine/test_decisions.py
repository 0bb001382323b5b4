"""decide.pattern's Thompson sampling and minimum-evidence rule, on fixed statistics."""

from __future__ import annotations

import random

from adapters.learning import PatternStats
from engine.ops.decide import thompson


def stats(**counts: tuple[int, int]) -> dict[str, PatternStats]:
    return {p: PatternStats(pattern=p, successes=s, failures=f) for p, (s, f) in counts.items()}


def choices(n: int, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    return [thompson(rng=rng, **kwargs)[0] for _ in range(n)]


def test_without_data_the_prior_wins_mostly_but_others_are_explored() -> None:
    picks = choices(400, prior="quick", candidates=["quick", "standard"], stats={}, min_evidence=5)
    share = picks.count("quick") / len(picks)
    assert 0.65 < share < 0.85  # P(Beta(3,1) > Beta(1,1)) = 0.75
    assert "standard" in picks, "exploration must try the other pattern"


def test_evidence_overrides_the_prior() -> None:
    data = stats(quick=(2, 10), standard=(12, 1))
    picks = choices(
        200, prior="quick", candidates=["quick", "standard"], stats=data, min_evidence=5
    )
    assert picks.count("standard") / len(picks) > 0.95


def test_without_exploration_thin_evidence_does_not_override() -> None:
    thin = stats(quick=(0, 3), standard=(2, 0))
    choice, samples, why = thompson(
        "quick", ["quick", "standard"], thin, min_evidence=5, rng=random.Random(1), explore=False
    )
    assert choice == "quick" and "rules" in why
    enough = stats(quick=(0, 3), standard=(6, 0))
    choice, samples, why = thompson(
        "quick", ["quick", "standard"], enough, min_evidence=5, rng=random.Random(1), explore=False
    )
    assert choice == "standard" and why.startswith("learned")
    assert samples["standard"]["successes"] == 6 and samples["quick"]["failures"] == 3
