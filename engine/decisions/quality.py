"""Quality prediction: the probability that a candidate passes its tests, from cheap signals
known before the tests run, and the measures that say how good such predictions were.

The model (`predict`) adds log-odds; every weight is here and nowhere else:

    prior      logit of the history's Beta(1 + passed, 1 + failed) mean: (1 + passed) / (2 + total),
               so 0.5 (logit 0) for a model group without history for this task type and language
    agreement  with n > 1 candidates and agreement a (the fraction of all candidates in this
               candidate's group, from 1/n alone to 1 unanimous):
                   +3.0 * (a - 1/n) / (1 - 1/n)          0 alone, +3.0 unanimous
               and a further -0.5 when the candidate is alone among three or more (a = 1/n, n > 2):
               the others agreed with each other or nobody agreed with anybody, both bad signs.
               0 for a lone candidate (n = 1): there was nothing to agree with.
    lint       -0.5 per lint error (Python/JavaScript lint, Go format and vet), at most 6 counted
    types      -0.8 per type error, at most 6 counted
    security   -0.3 per security error, at most 6 counted
    correction -1.5 per name a person objected to in a recalled correction (memory's `avoid`)
               that the candidate's code uses, at most 6 counted; only present when nonzero.
               The tests cannot see what people reject, so no fit learns this term: it is
               added to the fitted model's terms as it is (engine/decisions/quality_fit.py).

    p = clamp(sigmoid(prior + agreement + lint + types + security), 0.01, 0.99)

A failed gate (the code does not parse or build, or a cheap stage hit a sandbox limit) gives
p = 0.02 whatever the other signals say. Only findings of severity `error` count.

Examples without history: a unanimous answer of three 0.95; two of three agreeing 0.82; a lone
candidate 0.5, alone among three 0.38; with one type error each of these 0.8 lower in log-odds.

`auc` (ranking: does a higher p mean more likely to pass?) and `brier` (calibration: mean
squared error of p against the outcome) measure the predictions once the tests have run.

This model is the prior of the fitted one (engine/decisions/quality_fit.py: a logistic
regression on the features of earlier candidates, engine/decisions/quality_features.py), which
the operators use; it predicts alone while there are fewer than 50 samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from validation.languages import LANGUAGES
from validation.report import ValidationReport

# the gate stage of each language (its first stage marked gate=True); `language` is the stage
# of a report for a language without validation
GATE_STAGES = {name: lang.gate_stage for name, lang in LANGUAGES.items()}
LINT_STAGES = frozenset({"lint", "format", "vet"})
TYPE_STAGES = frozenset({"types"})
SECURITY_STAGES = frozenset({"security"})

BASE_RATE = 0.5
AGREEMENT_WEIGHT = 3.0
ALONE_PENALTY = 0.5
LINT_WEIGHT = 0.5
TYPE_WEIGHT = 0.8
SECURITY_WEIGHT = 0.3
CORRECTION_WEIGHT = 1.5
MAX_COUNTED = 6
GATE_FAILED_P = 0.02
P_MIN, P_MAX = 0.01, 0.99


@dataclass(frozen=True)
class Signals:
    """What is known about a candidate before its tests run."""

    gate_failed: bool  # the syntax/build stage failed (the code cannot even run)
    lint_errors: int
    type_errors: int
    security_errors: int
    agreement: float  # fraction of all candidates in this candidate's group (1.0 alone of 1)
    candidates: int  # total number of candidates (1 when there was no consensus)
    history_passed: int  # this model group's earlier candidates (task type, language) that passed
    history_total: int
    correction_hits: int = 0  # names a recalled correction objected to that the code uses


CLEAN = Signals(
    gate_failed=False,
    lint_errors=0,
    type_errors=0,
    security_errors=0,
    agreement=1.0,
    candidates=1,
    history_passed=0,
    history_total=0,
)
"""A lone candidate whose cheap checks found nothing, without history (p = 0.5)."""


def signals_from_report(
    report: ValidationReport,
    *,
    agreement: float = 1.0,
    candidates: int = 1,
    history: tuple[int, int] = (0, 0),
) -> Signals:
    """Signals from a report of the cheap stages (a `tests` stage, if present, is ignored).

    The gate failed when the language's gate stage (syntax for Python and JavaScript, build for
    Go) or the `language` stage of an unsupported language did not pass or skip, or when any
    cheap stage hit a sandbox limit. Error findings count per stage name: lint, format and vet
    as lint errors, types as type errors, security as security errors; findings that say the
    tool itself failed to run (rule `<stage>.tool`) do not count.
    """
    gate = {GATE_STAGES.get(report.language, ""), "language"}
    stages = [s for s in report.stages if s.name != "tests"]
    gate_failed = any(
        (s.name in gate and s.status in ("failed", "limit")) or s.status == "limit" for s in stages
    )

    def errors(names: frozenset[str]) -> int:
        return sum(
            1
            for s in stages
            if s.name in names
            for f in s.findings
            if f.severity == "error" and f.rule != f"{s.name}.tool"
        )

    passed, total = history
    return Signals(
        gate_failed=gate_failed,
        lint_errors=errors(LINT_STAGES),
        type_errors=errors(TYPE_STAGES),
        security_errors=errors(SECURITY_STAGES),
        agreement=agreement,
        candidates=candidates,
        history_passed=passed,
        history_total=total,
    )


def predict(s: Signals) -> tuple[float, dict[str, float]]:
    """The probability of passing the tests and its log-odds terms (see the module docstring)."""
    passed = max(0, s.history_passed)
    failed = max(0, s.history_total - passed)
    prior = (BASE_RATE * 2 + passed) / (2 + passed + failed)
    terms = {
        "prior": _logit(prior),
        "agreement": _agreement_term(s.agreement, s.candidates),
        "lint": -LINT_WEIGHT * min(max(s.lint_errors, 0), MAX_COUNTED),
        "types": -TYPE_WEIGHT * min(max(s.type_errors, 0), MAX_COUNTED),
        "security": -SECURITY_WEIGHT * min(max(s.security_errors, 0), MAX_COUNTED),
    }
    if s.correction_hits > 0:
        terms["correction"] = correction_term(s.correction_hits)
    terms = {k: round(v, 4) for k, v in terms.items()}
    if s.gate_failed:
        return GATE_FAILED_P, terms
    p = 1 / (1 + math.exp(-sum(terms.values())))
    return round(min(P_MAX, max(P_MIN, p)), 4), terms


def correction_term(hits: int) -> float:
    """The log-odds a repeated, rejected mistake costs (see the module docstring)."""
    return -CORRECTION_WEIGHT * min(max(hits, 0), MAX_COUNTED)


def _agreement_term(agreement: float, candidates: int) -> float:
    if candidates <= 1:
        return 0.0
    alone = 1 / candidates
    a = min(1.0, max(alone, agreement))
    term = AGREEMENT_WEIGHT * (a - alone) / (1 - alone)
    if candidates > 2 and math.isclose(a, alone):
        term -= ALONE_PENALTY
    return term


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def auc(predictions: Sequence[float], labels: Sequence[bool]) -> float | None:
    """ROC AUC: the chance that a random passing candidate got a higher p than a random failing
    one, ties counted half (the Mann-Whitney U statistic over average ranks; O(n log n)).
    None when only one class is present."""
    _same_length(predictions, labels)
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(predictions)), key=lambda i: predictions[i])
    rank_sum = 0.0  # of the positives, ranks from 1, tied predictions sharing their mean rank
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and predictions[order[j + 1]] == predictions[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(1 for k in order[i : j + 1] if labels[k])
        i = j + 1
    u = rank_sum - positives * (positives + 1) / 2
    return u / (positives * negatives)


def brier(predictions: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Mean squared difference between p and the outcome (1 passed, 0 failed); None if empty."""
    _same_length(predictions, labels)
    if not predictions:
        return None
    return sum(
        (p - (1.0 if y else 0.0)) ** 2 for p, y in zip(predictions, labels, strict=True)
    ) / len(predictions)


def _same_length(predictions: Sequence[float], labels: Sequence[bool]) -> None:
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
