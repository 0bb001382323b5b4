"""What the evaluation measured: one run's outcome, a strategy's summary, the figures
probability predicts, and the table they are printed in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.eval.fitted import quality_lines
from engine.decisions.quality import auc, brier

FINISHED = ("completed", "failed")


@dataclass
class Outcome:
    """One run of one problem under one strategy."""

    problem: str
    status: str
    passed: bool
    seconds: float
    tokens: int
    predictions: list[tuple[float, bool]] = field(default_factory=list)
    error: str | None = None
    generate_s: float | None = None  # the parallel multi-instance generation, start to end
    choose_s: float | None = None  # llm.consensus: grouping, prediction, validation
    # (features, passed) of the candidates whose prediction kept its features (the fitted
    # prediction's rows; bench/eval/fitted.py)
    samples: list[tuple[dict[str, float], bool]] = field(default_factory=list)


@dataclass
class Summary:
    """The figures of one strategy."""

    strategy: str
    outcomes: list[Outcome]
    expected: float | None = None

    @property
    def pass_at_1(self) -> float:
        return sum(o.passed for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    def latency(self) -> tuple[float, float]:
        times = sorted(o.seconds for o in self.outcomes)
        if not times:
            return (0.0, 0.0)
        p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]
        return (sum(times) / len(times), p95)

    def tokens(self) -> float:
        return sum(o.tokens for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    def prediction(self) -> tuple[float | None, float | None, int]:
        pairs = [p for o in self.outcomes for p in o.predictions]
        preds, labels = [p for p, _ in pairs], [label for _, label in pairs]
        return auc(preds, labels), brier(preds, labels), len(pairs)


def expected_pass(strategy: str, accuracies: Sequence[float], iterations: int) -> float:
    """What probability predicts when candidates pass independently with these accuracies
    and a consensus finds a passing candidate whenever there is one (it validates them).
    The loop's improvements are asked of the first group; with failing iterations that do
    not raise the score, the loop converges after two of them."""
    first = accuracies[0]
    none_pass = math.prod(1 - a for a in accuracies)
    if strategy == "single":
        return first
    if strategy == "consensus":
        return 1 - none_pass
    # a lower bound: an iteration that raises the score without passing earns another one
    return 1 - none_pass * (1 - first) ** min(iterations, 2)


def table(summaries: Sequence[Summary]) -> list[str]:
    """The result table, one line per strategy, then the pass@1 line."""

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        f"{'strategy':<16}{'pass@1':>8}{'expected':>10}{'mean s':>8}{'p95 s':>7}"
        f"{'tokens/problem':>16}{'AUC':>7}{'Brier':>7}{'predictions':>13}{'errors':>8}"
    ]
    for s in summaries:
        mean, p95 = s.latency()
        roc, score, n = s.prediction()
        errors = sum(o.status not in FINISHED for o in s.outcomes)
        lines.append(
            f"{s.strategy:<16}{s.pass_at_1:>8.3f}{fmt(s.expected, '.3f'):>10}{mean:>8.2f}"
            f"{p95:>7.2f}{s.tokens():>16.0f}{fmt(roc, '.3f'):>7}{fmt(score, '.3f'):>7}"
            f"{n:>13}{errors:>8}"
        )
    for s in summaries:
        gen = [o.generate_s for o in s.outcomes if o.generate_s is not None]
        choose = [o.choose_s for o in s.outcomes if o.choose_s is not None]
        if gen:
            lines.append(
                f"{s.strategy}: parallel generation mean {sum(gen) / len(gen):.2f} s, "
                f"median {sorted(gen)[len(gen) // 2]:.2f} s, max {max(gen):.2f} s; choosing "
                f"(grouping, prediction, validation) mean "
                f"{sum(choose) / max(1, len(choose)):.2f} s over {len(gen)} runs"
            )
    lines += quality_lines(summaries)
    lines.append("pass@1 " + " ".join(f"{s.strategy}={s.pass_at_1:.3f}" for s in summaries))
    return lines
