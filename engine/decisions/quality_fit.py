"""The fitted quality prediction: a logistic regression on the features of earlier candidates
and whether their tests passed (`OutcomeStore.prediction_samples`), with the hand-set model
(engine/decisions/quality.py) as its prior while data is thin.

The fit (`fit_model`): the features of engine/decisions/quality_features.py (`FIT_FEATURES`:
all but the raw history counts), standardized, then an L2-regularized logistic regression
(scikit-learn, C = 1). The counts `history_passed` and `history_total` only grow: a weight on
them would drift every prediction as history accumulates (in the evaluation they act as a
clock), so the history enters as its Beta mean's logit only. Candidates whose gate failed are
left out: their tests almost never run, and the rule below decides them anyway.

How much it is trusted (`blend_weight`), by the number n of samples it was fitted on:

    n < MIN_SAMPLES (50), or only one outcome among them     the hand-set model alone
    MIN_SAMPLES <= n < FULL_SAMPLES (500)                     log-odds blended:
        logit p = w * logit p_fitted + (1 - w) * logit p_hand,  w = (n - 50) / (500 - 50)
    n >= FULL_SAMPLES                                         the fitted model alone

so the prediction moves smoothly from the hand-set model (w = 0 at 50 samples) to the fitted
one. Whatever the model, a failed gate gives p = GATE_FAILED_P and p is clamped to
[P_MIN, P_MAX], as in the hand-set model.

Terms (the evidence of a prediction; they add up to logit p before the clamp): the hand-set
terms for the hand-set model; each feature's contribution (coefficient times standardized
value) and `intercept` for the fitted one; for a blend, those scaled by w plus `hand_set`,
(1 - w) times the hand-set model's logit.

Every fit is measured on held-out folds (`out_of_fold`: grouped k-fold when groups are given,
e.g. by problem, else k contiguous blocks of the samples in time order; no row is ever
predicted by a model fitted on it):
AUC, Brier score and a reliability table by decile of p, beside the hand-set model's figures
on the same rows (`FitReport`).

`FittedQuality` is what the operators use (`current()`): `predict(features) -> (p, terms)`
and `describe()` (which model predicted); `keep_fitted` refits it from the outcome store now
and then every hour in the background, swapping the fitted model under a lock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from engine.decisions.quality import (
    GATE_FAILED_P,
    P_MAX,
    P_MIN,
    auc,
    brier,
    correction_term,
    predict,
)
from engine.decisions.quality_features import FEATURES, signals_of

log = logging.getLogger(__name__)

MIN_SAMPLES = 50
FULL_SAMPLES = 500
FOLDS = 5
C = 1.0
REFIT_SECONDS = 3600.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# the raw history counts only grow (see above); correction hits are a fixed term, not fitted:
# the label (tests passed) cannot see what people reject
FIT_FEATURES = tuple(
    n for n in FEATURES if n not in ("history_passed", "history_total", "correction_hits")
)

Sample = tuple[Mapping[str, float], bool]


@dataclass(frozen=True)
class ReliabilityBin:
    """The held-out predictions in [low, high): how many, their mean, how many passed."""

    low: float
    high: float
    count: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class FitReport:
    """Held-out figures of a fit and of the hand-set model on the same rows."""

    samples: int
    positives: int
    auc: float | None
    brier: float | None
    hand_auc: float | None
    hand_brier: float | None
    reliability: tuple[ReliabilityBin, ...]

    def lines(self) -> list[str]:
        """The figures as text: a summary line, then the reliability table."""

        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"

        out = [
            f"{self.samples} samples ({self.positives} passed), held out: "
            f"AUC {fmt(self.auc)} (hand-set {fmt(self.hand_auc)}), "
            f"Brier {fmt(self.brier)} (hand-set {fmt(self.hand_brier)})",
            f"{'p':<10}{'n':>6}{'mean p':>9}{'passed':>9}",
        ]
        out += [
            f"{b.low:.1f}-{b.high:.1f}   {b.count:>6}{b.predicted:>9.3f}{b.observed:>9.3f}"
            for b in self.reliability
        ]
        return out


@dataclass(frozen=True)
class QualityFit:
    """A fitted logistic regression as plain numbers (no scikit-learn needed to predict):
    logit p = intercept + sum(coef_j * (x_j - mean_j) / scale_j)."""

    names: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefs: tuple[float, ...]
    intercept: float
    samples: int
    report: FitReport | None = None

    def contributions(self, features: Mapping[str, float]) -> dict[str, float]:
        """Each feature's log-odds contribution and the intercept."""
        terms = {
            name: coef * (float(features.get(name, 0.0)) - mean) / scale
            for name, mean, scale, coef in zip(
                self.names, self.means, self.scales, self.coefs, strict=True
            )
        }
        return {**terms, "intercept": self.intercept}

    def logit(self, features: Mapping[str, float]) -> float:
        return sum(self.contributions(features).values())


def blend_weight(samples: int) -> float:
    """The fitted model's share of the log-odds (see the module docstring)."""
    if samples < MIN_SAMPLES:
        return 0.0
    return min(1.0, (samples - MIN_SAMPLES) / (FULL_SAMPLES - MIN_SAMPLES))


def hand_set(features: Mapping[str, float]) -> float:
    """The hand-set model's p from features."""
    return predict(signals_of(features))[0]


def _matrix(samples: Sequence[Sample]) -> Any:
    import numpy as np

    return np.array([[float(f.get(n, 0.0)) for n in FIT_FEATURES] for f, _ in samples], dtype=float)


def _gate_failed(features: Mapping[str, float]) -> bool:
    return float(features.get("gate_failed", 0.0)) >= 0.5


def fit_model(samples: Sequence[Sample], *, min_samples: int = MIN_SAMPLES) -> QualityFit | None:
    """A logistic regression on the samples whose gate passed; None when fewer than
    `min_samples` remain or they have only one outcome (the hand-set model stays)."""
    usable = [(f, y) for f, y in samples if not _gate_failed(f)]
    labels = [bool(y) for _, y in usable]
    if len(usable) < max(2, min_samples) or all(labels) or not any(labels):
        return None
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(_matrix(usable))
    model = LogisticRegression(C=C, max_iter=2000)
    model.fit(scaler.transform(_matrix(usable)), labels)
    return QualityFit(
        names=FIT_FEATURES,
        means=tuple(float(v) for v in scaler.mean_),
        scales=tuple(float(v) for v in scaler.scale_),
        coefs=tuple(float(v) for v in model.coef_[0]),
        intercept=float(model.intercept_[0]),
        samples=len(usable),
    )


def fit(
    samples: Sequence[Sample], *, groups: Sequence[str] | None = None, folds: int = FOLDS
) -> QualityFit | None:
    """`fit_model` on all samples, with its `FitReport` from held-out folds; None when thin."""
    fitted = fit_model(samples)
    if fitted is None:
        return None
    held_out = out_of_fold(samples, groups=groups, folds=folds, blend=False)
    labels = [bool(y) for _, y in samples]
    return replace(fitted, report=report(held_out, [hand_set(f) for f, _ in samples], labels))


def out_of_fold(
    samples: Sequence[Sample],
    *,
    groups: Sequence[str] | None = None,
    folds: int = FOLDS,
    blend: bool = False,
) -> list[float]:
    """Each sample's p from a model fitted on the other folds only. With `groups` the folds
    keep each group whole (GroupKFold); without, the folds are contiguous blocks in the given
    order (the store's samples are oldest first, so the candidates of one run, recorded
    together, stay in one fold but for a run on a boundary). `blend`:
    predict as `FittedQuality` would with that fit (the hand-set prior while thin); otherwise
    the logistic regression alone whenever the training folds have both outcomes. Samples
    that cannot be split (under two folds) get the hand-set p."""
    out = [hand_set(f) for f, _ in samples]
    for train, test in _splits(samples, groups, folds):
        fitted = fit_model([samples[i] for i in train], min_samples=MIN_SAMPLES if blend else 2)
        model = FittedQuality(fitted, blend=blend)
        for i in test:
            out[i] = model.predict(samples[i][0])[0]
    return out


def _splits(
    samples: Sequence[Sample], groups: Sequence[str] | None, folds: int
) -> list[tuple[list[int], list[int]]]:
    import numpy as np
    from sklearn.model_selection import GroupKFold, KFold

    labels = np.array([bool(y) for _, y in samples])
    index = np.zeros(len(samples))
    if groups is not None:
        if len(groups) != len(samples):
            raise ValueError(f"{len(groups)} groups for {len(samples)} samples")
        k = min(folds, len(set(groups)))
        if k < 2:
            return []
        split = GroupKFold(n_splits=k).split(index, labels, groups=list(groups))
    else:
        k = min(folds, len(samples))
        if k < 2:
            return []
        split = KFold(n_splits=k).split(index)
    return [(train.tolist(), test.tolist()) for train, test in split]


def reliability(predictions: Sequence[float], labels: Sequence[bool]) -> list[ReliabilityBin]:
    """Predictions by decile of p ([0, 0.1), ..., [0.9, 1.0]); empty deciles left out."""
    bins: dict[int, list[tuple[float, bool]]] = {}
    for p, y in zip(predictions, labels, strict=True):
        bins.setdefault(min(9, max(0, int(p * 10))), []).append((p, y))
    return [
        ReliabilityBin(
            low=k / 10,
            high=(k + 1) / 10,
            count=len(rows),
            predicted=sum(p for p, _ in rows) / len(rows),
            observed=sum(1 for _, y in rows if y) / len(rows),
        )
        for k, rows in sorted(bins.items())
    ]


def report(
    predictions: Sequence[float], hand: Sequence[float], labels: Sequence[bool]
) -> FitReport:
    """Held-out figures of `predictions` beside the hand-set ones on the same rows."""
    return FitReport(
        samples=len(labels),
        positives=sum(1 for y in labels if y),
        auc=auc(predictions, labels),
        brier=brier(predictions, labels),
        hand_auc=auc(hand, labels),
        hand_brier=brier(hand, labels),
        reliability=tuple(reliability(predictions, labels)),
    )


class FittedQuality:
    """The quality prediction the operators use: the hand-set model, a fitted one, or a blend
    of the two (see the module docstring). `swap` replaces the fit; safe across threads."""

    def __init__(self, fitted: QualityFit | None = None, *, blend: bool = True) -> None:
        self._lock = threading.Lock()
        self._fitted = fitted
        self._blend = blend

    def swap(self, fitted: QualityFit | None) -> None:
        with self._lock:
            self._fitted = fitted

    def _state(self) -> tuple[QualityFit | None, float]:
        with self._lock:
            fitted = self._fitted
        if fitted is None:
            return None, 0.0
        return fitted, blend_weight(fitted.samples) if self._blend else 1.0

    def snapshot(self) -> FittedQuality:
        """The model as it is now, unaffected by later swaps (one step's predictions and
        their description come from one model)."""
        with self._lock:
            return FittedQuality(self._fitted, blend=self._blend)

    @property
    def fitted(self) -> QualityFit | None:
        return self._state()[0]

    def describe(self) -> str:
        """Which model predicts: "hand-set", "fitted on N samples, AUC x" or the blend."""
        fitted, w = self._state()
        if fitted is None or w == 0.0:
            return "hand-set"
        held_out = fitted.report.auc if fitted.report is not None else None
        name = f"fitted on {fitted.samples} samples, AUC " + (
            "-" if held_out is None else f"{held_out:.3f}"
        )
        return name if w == 1.0 else f"{w:.2f} {name}, {1 - w:.2f} hand-set"

    def predict(self, features: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        """The probability of passing the tests and its log-odds terms."""
        p_hand, hand_terms = predict(signals_of(features))
        fitted, w = self._state()
        if fitted is None or w == 0.0:
            return p_hand, hand_terms
        terms = {k: w * v for k, v in fitted.contributions(features).items()}
        if w < 1.0:
            terms["hand_set"] = (1 - w) * math.log(p_hand / (1 - p_hand))
        hits = round(features.get("correction_hits", 0.0))
        if hits > 0:  # the hand-set prior already holds (1 - w) of it; the rest, whole here
            terms["correction"] = w * correction_term(hits)
        terms = {k: round(v, 4) for k, v in terms.items()}
        if _gate_failed(features):
            return GATE_FAILED_P, terms
        z = sum(terms.values())
        p = 1 / (1 + math.exp(-z)) if z > -700 else 0.0
        return round(min(P_MAX, max(P_MIN, p)), 4), terms


_current = FittedQuality()


def current() -> FittedQuality:
    """This process's quality prediction (hand-set until `keep_fitted` fits one)."""
    return _current


async def refit(outcomes: Any, model: FittedQuality | None = None) -> QualityFit | None:
    """Fit on the outcome store's samples (the most recent `MAX_PREDICTION_PAIRS`) and swap
    the result in (None, the hand-set model, while thin); returns it."""
    samples = await outcomes.prediction_samples(EPOCH)
    fitted = await asyncio.to_thread(fit, samples)
    (model or _current).swap(fitted)
    return fitted


async def keep_fitted(
    outcomes: Any, every: float = REFIT_SECONDS, model: FittedQuality | None = None
) -> None:
    """Refit now and then every `every` seconds (a background task of each process; a
    failure is logged and the model in use stays)."""
    while True:
        try:
            fitted = await refit(outcomes, model)
            if fitted is None:
                log.info("quality prediction: too few samples to fit, hand-set")
            else:
                lines = fitted.report.lines() if fitted.report else []
                log.info("quality prediction: %s", (model or _current).describe())
                for line in lines:
                    log.info("quality prediction: %s", line)
        except Exception as exc:  # noqa: BLE001 - the model in use keeps predicting
            log.warning("quality prediction not refitted: %s", exc)
        await asyncio.sleep(every)
