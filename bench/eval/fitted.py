"""The fitted quality prediction against the hand-set one, on the same candidates.

Every candidate whose prediction kept its features is a row (features, passed, problem). The
hand-set p is made again from the features (engine/decisions/quality.py), whatever model the
runs used. The fitted p is honest: grouped k-fold by problem over the rows of all strategies
together, so each problem's candidates (under every strategy: the same problem's code recurs)
are predicted by a model fitted on the other problems' candidates only, never on their own
rows (engine/decisions/quality_fit.py `out_of_fold`). Two fitted figures: the logistic
regression alone ("fitted"), and as the engine would use it with that many samples
("blended": the hand-set prior while data is thin, see `blend_weight`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.decisions.quality import auc, brier
from engine.decisions.quality_fit import FOLDS, hand_set, out_of_fold

if TYPE_CHECKING:
    from bench.eval.figures import Summary


@dataclass(frozen=True)
class Compared:
    """One strategy's candidates: AUC and Brier of the hand-set, fitted and blended p."""

    strategy: str
    candidates: int
    hand: tuple[float | None, float | None]
    fitted: tuple[float | None, float | None]
    blended: tuple[float | None, float | None]


def compare(summaries: Sequence[Summary], folds: int = FOLDS) -> tuple[list[Compared], int]:
    """Per strategy, then over all of them ("all"); and the number of problems. Empty when
    the rows span fewer than two problems (nothing to hold out)."""
    rows = [
        (s.strategy, o.problem, features, passed)
        for s in summaries
        for o in s.outcomes
        for features, passed in o.samples
    ]
    problems = len({problem for _, problem, _, _ in rows})
    if problems < 2:
        return [], problems
    samples = [(features, passed) for _, _, features, passed in rows]
    groups = [problem for _, problem, _, _ in rows]
    hand = [hand_set(features) for features, _ in samples]
    fitted = out_of_fold(samples, groups=groups, folds=folds, blend=False)
    blended = out_of_fold(samples, groups=groups, folds=folds, blend=True)
    out = []
    for strategy in [*(s.strategy for s in summaries), "all"]:
        pick = [i for i, row in enumerate(rows) if strategy in ("all", row[0])]
        labels = [samples[i][1] for i in pick]
        hand_p, fitted_p, blended_p = (
            _figures([p[i] for i in pick], labels) for p in (hand, fitted, blended)
        )
        out.append(Compared(strategy, len(pick), hand_p, fitted_p, blended_p))
    return out, problems


def _figures(predictions: list[float], labels: list[bool]) -> tuple[float | None, float | None]:
    return auc(predictions, labels), brier(predictions, labels)


def quality_lines(summaries: Sequence[Summary], folds: int = FOLDS) -> list[str]:
    """The comparison as lines of text (none when there is nothing to compare)."""
    compared, problems = compare(summaries, folds)
    if not compared:
        return []

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [
        f"quality prediction on the same {compared[-1].candidates} candidates of {problems}"
        f" problems: hand-set vs fitted (logistic regression, {min(folds, problems)}-fold"
        " cross-validation grouped by problem: fitted on the other problems' candidates)",
        f"{'prediction':<16}{'candidates':>11}{'AUC hand':>10}{'AUC fit':>9}{'AUC blend':>11}"
        f"{'Brier hand':>12}{'Brier fit':>11}{'Brier blend':>13}",
    ]
    for c in compared:
        lines.append(
            f"{c.strategy:<16}{c.candidates:>11}{fmt(c.hand[0]):>10}{fmt(c.fitted[0]):>9}"
            f"{fmt(c.blended[0]):>11}{fmt(c.hand[1]):>12}{fmt(c.fitted[1]):>11}"
            f"{fmt(c.blended[1]):>13}"
        )
    return lines
