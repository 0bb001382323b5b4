"""The fitted quality prediction: its features, the fit and its held-out figures, the hand-set
prior while data is thin, the blend, the background refit, and InfluxDB's
`prediction_samples`."""

from __future__ import annotations

import dataclasses
import math
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.learning import CandidateOutcome
from engine.decisions.quality import CLEAN, MAX_COUNTED, Signals, predict
from engine.decisions.quality_features import (
    FEATURES,
    MAX_MEMORY_COUNTED,
    correction_hits,
    features_of,
    memory_features,
    signals_of,
)
from engine.decisions.quality_fit import (
    FULL_SAMPLES,
    MIN_SAMPLES,
    FittedQuality,
    _splits,
    blend_weight,
    fit,
    fit_model,
    hand_set,
    out_of_fold,
    refit,
    reliability,
)

BASE = CLEAN
MEMORY = {
    "choice": "recalled",
    "summary": "...",
    "memories": [{"kind": "fix"}, {"kind": "solution"}, {"kind": "fix"}, "odd"],
    "avoid": ["eval", "os.system", "unused_helper", "  "],
    "similar_successes": 3,
    "similar_failures": 1,
}


# ---- features ----------------------------------------------------------------------------


def test_features_without_memory_are_the_signals_and_zeros() -> None:
    f = features_of(replace(BASE, lint_errors=9, type_errors=2, history_passed=3, history_total=4))
    assert set(f) == set(FEATURES)
    assert all(type(v) is float for v in f.values())
    assert f["lint_errors"] == MAX_COUNTED and f["type_errors"] == 2
    assert f["history_logit"] == pytest.approx(math.log(4 / 2))  # Beta(4, 2) mean 2/3
    assert f["consensus_share"] == 0.0 and f["alone"] == 0.0 and f["gate_failed"] == 0.0
    assert f["similar_successes"] == f["recalled_failures"] == f["correction_hits"] == 0.0
    assert (
        memory_features(None)
        == memory_features({})
        == {
            "similar_successes": 0.0,
            "recalled_failures": 0.0,
            "correction_hits": 0.0,
        }
    )


def test_agreement_inputs() -> None:
    unanimous = features_of(replace(BASE, agreement=1.0, candidates=3))
    two_of_three = features_of(replace(BASE, agreement=2 / 3, candidates=3))
    alone = features_of(replace(BASE, agreement=1 / 3, candidates=3))
    assert unanimous["consensus_share"] == 1.0 and unanimous["alone"] == 0.0
    assert two_of_three["consensus_share"] == pytest.approx(0.5)
    assert alone["consensus_share"] == 0.0 and alone["alone"] == 1.0
    assert features_of(replace(BASE, agreement=0.5, candidates=2))["alone"] == 0.0


def test_memory_features() -> None:
    files = {
        "solution.py": "import os\n\ndef run(cmd):\n    os.system(cmd)\n    return evaluate(cmd)\n",
        "util.py": "def my_eval(x):\n    return x\n",
    }
    f = memory_features(MEMORY, files)
    # `eval` is only part of longer names; os.system is there; unused_helper is not
    assert f == {"similar_successes": 3.0, "recalled_failures": 2.0, "correction_hits": 1.0}
    assert memory_features({"fixes": [{}, {}]})["recalled_failures"] == 2.0  # older form
    assert memory_features({"similar_successes": 99})["similar_successes"] == MAX_MEMORY_COUNTED
    assert memory_features({"similar_successes": "x", "avoid": "eval"}) == memory_features(None)


def test_correction_hits_are_distinct_whole_identifiers() -> None:
    files = {"a.py": "x = eval(s)\ny = eval(t)\n", "b.js": "const $el = get_el(); evalx()"}
    assert correction_hits(["eval"], files) == 1
    assert correction_hits(["eval", "eval", "get_el", "el", "$el"], files) == 3
    assert correction_hits(["evalx", "val"], files) == 1
    assert correction_hits([], files) == 0
    assert correction_hits(["eval"], {}) == 0


def test_signals_round_trip_gives_the_hand_set_prediction() -> None:
    rnd = random.Random(3)
    for _ in range(200):
        n = rnd.randint(1, 4)
        s = Signals(
            gate_failed=rnd.random() < 0.1,
            lint_errors=rnd.randint(0, 9),
            type_errors=rnd.randint(0, 9),
            security_errors=rnd.randint(0, 3),
            agreement=rnd.randint(1, n) / n,
            candidates=n,
            history_passed=(passed := rnd.randint(0, 20)),
            history_total=passed + rnd.randint(0, 20),
        )
        f = features_of(s, MEMORY, {"x.py": "eval()"})
        # the code repeats what a recalled correction objected to: the prediction says so
        s = dataclasses.replace(s, correction_hits=round(f["correction_hits"]))
        assert s.correction_hits >= 1
        assert hand_set(f) == predict(s)[0]
        assert FittedQuality().predict(f) == predict(s)
        assert predict(s)[1]["correction"] < 0


# ---- the fit -----------------------------------------------------------------------------


def synthetic(n: int, seed: int = 0, noise: float = 0.0) -> list[tuple[dict[str, float], bool]]:
    """Samples whose label is decided by `type_errors` alone (0 passes, >= 1 fails); the
    other features are noise, and the hand-set-favoured `agreement` is random."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        s = replace(
            BASE,
            type_errors=rnd.choice([0, 0, 1, 2]),
            lint_errors=rnd.randint(0, 3),
            agreement=rnd.choice([1 / 3, 2 / 3, 1.0]),
            candidates=3,
        )
        passed = s.type_errors == 0
        if rnd.random() < noise:
            passed = not passed
        out.append((features_of(s), passed))
    return out


def test_one_feature_decides_the_label_gives_auc_near_one() -> None:
    fitted = fit(synthetic(600))
    assert fitted is not None and fitted.samples == 600 and fitted.report is not None
    assert fitted.report.auc is not None and fitted.report.auc > 0.99
    assert fitted.report.brier is not None and fitted.report.brier < 0.05
    # the hand-set model, on the same rows, sees the type errors too but trusts agreement
    assert fitted.report.hand_auc is not None and fitted.report.hand_auc < fitted.report.auc
    weights = dict(zip(fitted.names, fitted.coefs, strict=True))
    assert weights["type_errors"] < 0 and abs(weights["type_errors"]) == max(
        abs(w) for w in weights.values()
    )
    model = FittedQuality(fitted)
    assert model.describe() == f"fitted on 600 samples, AUC {fitted.report.auc:.3f}"
    good, bad = synthetic(2, seed=9)[0][0], features_of(replace(BASE, type_errors=2))
    good = {**good, "type_errors": 0.0}
    assert model.predict(good)[0] > 0.9 > 0.1 > model.predict(bad)[0]
    lines = fitted.report.lines()
    assert lines[0].startswith("600 samples (") and "held out: AUC" in lines[0]
    assert len(lines) >= 4  # summary, header, at least two deciles


def test_thin_data_keeps_the_hand_set_prior() -> None:
    assert fit(synthetic(MIN_SAMPLES - 1)) is None
    all_passed = [(f, True) for f, _ in synthetic(300)]
    assert fit(all_passed) is None  # one outcome only
    gate_failed = [({**f, "gate_failed": 1.0}, y) for f, y in synthetic(300)]
    assert fit(gate_failed) is None  # gate failures are left out of the fit
    model = FittedQuality(None)
    f = features_of(replace(BASE, type_errors=1, candidates=3, agreement=1.0))
    assert model.predict(f) == predict(signals_of(f)) and model.describe() == "hand-set"


def test_blend_by_sample_count() -> None:
    assert blend_weight(0) == blend_weight(MIN_SAMPLES - 1) == blend_weight(MIN_SAMPLES) == 0.0
    assert blend_weight((MIN_SAMPLES + FULL_SAMPLES) // 2) == pytest.approx(0.5)
    assert blend_weight(FULL_SAMPLES) == blend_weight(10 * FULL_SAMPLES) == 1.0
    fitted = fit(synthetic(600))
    assert fitted is not None
    half = FittedQuality(replace(fitted, samples=(MIN_SAMPLES + FULL_SAMPLES) // 2))
    full = FittedQuality(fitted)
    assert half.describe().startswith("0.50 fitted on 275 samples, AUC ")
    assert half.describe().endswith(", 0.50 hand-set")
    f = features_of(replace(BASE, type_errors=1, agreement=1.0, candidates=3))
    p_hand, p_fit, (p_half, terms) = hand_set(f), full.predict(f)[0], half.predict(f)
    assert p_fit < p_half < p_hand  # the hand-set model trusts unanimity; the fit knows better
    logit = math.log(p_half / (1 - p_half))
    assert sum(terms.values()) == pytest.approx(logit, abs=1e-3)
    assert terms["hand_set"] == pytest.approx(0.5 * math.log(p_hand / (1 - p_hand)), abs=1e-4)
    # the terms of the fitted model alone add up to its logit too, with no hand-set share
    p, full_terms = full.predict(f)
    assert "hand_set" not in full_terms and "intercept" in full_terms
    assert sum(full_terms.values()) == pytest.approx(math.log(p / (1 - p)), abs=1e-3)


def test_a_failed_gate_decides_whatever_the_model() -> None:
    fitted = fit(synthetic(600))
    f = {**features_of(replace(BASE, gate_failed=True)), "type_errors": 0.0}
    for model in (FittedQuality(), FittedQuality(fitted)):
        assert model.predict(f)[0] == 0.02


def test_swap_and_snapshot() -> None:
    model = FittedQuality()
    before = model.snapshot()
    fitted = fit(synthetic(600))
    model.swap(fitted)
    assert model.fitted is fitted and before.fitted is None
    assert before.describe() == "hand-set" and model.describe().startswith("fitted on 600")
    model.swap(None)
    assert model.describe() == "hand-set"


def test_grouped_folds_never_split_a_group() -> None:
    samples = synthetic(200)
    groups = [f"problem-{i % 37}" for i in range(200)]
    splits = _splits(samples, groups, 5)
    assert len(splits) == 5
    for train, test in splits:
        assert not {groups[i] for i in train} & {groups[i] for i in test}
    assert sorted(i for _, test in splits for i in test) == list(range(200))
    assert _splits(samples, ["one"] * 200, 5) == []  # nothing to hold out: hand-set
    assert out_of_fold(samples, groups=["one"] * 200) == [hand_set(f) for f, _ in samples]
    with pytest.raises(ValueError):
        _splits(samples, groups[:10], 5)


def test_out_of_fold_is_held_out() -> None:
    # pure noise labels: a model scored on its own rows would look better than chance; held
    # out it cannot
    rnd = random.Random(1)
    samples = [
        ({**f, "lint_errors": float(rnd.randint(0, 6))}, rnd.random() < 0.5)
        for f, _ in synthetic(300)
    ]
    held_out = out_of_fold(samples, groups=[str(i // 3) for i in range(300)], blend=False)
    fitted = fit(samples)
    assert fitted is not None and fitted.report is not None
    from engine.decisions.quality import auc

    labels = [y for _, y in samples]
    assert (auc(held_out, labels) or 0) < 0.6
    in_sample = FittedQuality(replace(fitted, samples=FULL_SAMPLES))
    assert (auc([in_sample.predict(f)[0] for f, _ in samples], labels) or 0) > (
        auc(held_out, labels) or 0
    )


def test_reliability_by_decile() -> None:
    bins = reliability([0.05, 0.07, 0.55, 0.95, 1.0], [False, True, True, True, True])
    assert [(b.low, b.high, b.count) for b in bins] == [(0.0, 0.1, 2), (0.5, 0.6, 1), (0.9, 1.0, 2)]
    assert bins[0].predicted == pytest.approx(0.06) and bins[0].observed == 0.5
    assert bins[2].observed == 1.0


class Samples:
    def __init__(self, samples: list[tuple[dict[str, float], bool]]) -> None:
        self.samples = samples
        self.asked: list[datetime] = []

    async def prediction_samples(self, since: datetime) -> list[tuple[dict[str, float], bool]]:
        self.asked.append(since)
        return self.samples


async def test_refit_from_the_outcome_store_swaps_the_model() -> None:
    model = FittedQuality()
    fitted = await refit(Samples(synthetic(600)), model)
    assert fitted is not None and model.fitted is fitted
    assert await refit(Samples(synthetic(10)), model) is None
    assert model.describe() == "hand-set"


def test_fit_model_without_a_report() -> None:
    fitted = fit_model(synthetic(100))
    assert fitted is not None and fitted.report is None and fitted.samples == 100
    assert FittedQuality(replace(fitted, samples=FULL_SAMPLES)).describe().endswith("AUC -")


# ---- InfluxDB ----------------------------------------------------------------------------


@pytest.fixture()
async def influx(influx_server: Any) -> AsyncIterator[Any]:
    from adapters.learning.influx import InfluxOutcomeStore

    store = InfluxOutcomeStore(influx_server.url, database=f"q_{uuid.uuid4().hex[:8]}")
    yield store
    await store.close()


async def test_influx_prediction_samples(influx: Any) -> None:
    start = datetime(2100, 1, 1, tzinfo=UTC)  # its own database: any time will do
    minute = timedelta(minutes=1)
    a = features_of(replace(BASE, type_errors=2), MEMORY, {"x.py": "eval(x)"})
    b = {"gate_failed": 0.0, "agreement": 0.6666666666666666, "odd name, =x": 1e-9}
    rows: list[tuple[datetime, dict[str, float], bool, str]] = [
        (start - minute, a, True, "a"),  # before `since`
        (start, a, False, "a"),
        (start + minute, {}, True, "a"),  # no features
        (start + 2 * minute, b, True, "b"),
        (start + 3 * minute, {"x": float("nan"), "y": 2.0}, False, "b"),  # NaN left out
        (start + 4 * minute, {"x": float("inf")}, True, "a"),  # nothing storable
    ]
    random.Random(2).shuffle(rows)
    for i, (at, features, passed, group) in enumerate(rows):
        await influx.record_candidate(
            CandidateOutcome(
                run_id=f"r{i}",
                task_id="t",
                model_group=group,
                language="python" if i % 2 else "go",
                predicted=0.5 if i % 3 else None,
                passed=passed,
                features=features,
                at=at,
            )
        )
    await influx.flush()
    got = await influx.prediction_samples(start)
    assert got == [(a, False), (b, True), ({"y": 2.0}, False)]
    assert all(type(v) is float for f, _ in got for v in f.values())
    assert all(type(ok) is bool for _, ok in got)
    assert await influx.prediction_samples(start - minute) == [(a, True), *got]
    assert await influx.prediction_samples(start + minute) == got[1:]
    assert await influx.prediction_samples(start + 5 * minute) == []
    # the features do not disturb the other candidate queries
    with_prediction = sorted((at, passed) for i, (at, _, passed, _) in enumerate(rows) if i % 3)
    assert await influx.prediction_pairs(start - minute) == [(0.5, ok) for _, ok in with_prediction]
    expected = sum(1 for i, r in enumerate(rows) if r[3] == "b" and i % 2)
    assert (await influx.candidate_stats("b", "unknown", "python"))[1] == expected
    assert influx.health().dropped == 0
