"""`weavergen eval`: the fitted quality prediction beside the hand-set one on the same
candidates, cross-validated by problem."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import replace

from bench.eval.evaluate import _features
from bench.eval.figures import Outcome, Summary, table
from bench.eval.fitted import compare, quality_lines
from engine.decisions.quality import CLEAN, auc
from engine.decisions.quality_features import features_of
from engine.decisions.quality_fit import hand_set

BASE = dataclasses.replace(CLEAN, candidates=3)


def outcomes(strategy_seed: int, problems: int, per_problem: int) -> list[Outcome]:
    """Candidates whose label is decided by `type_errors`, which the hand-set model weighs
    less than unanimity (random here)."""
    rnd = random.Random(strategy_seed)
    out = []
    for k in range(problems):
        samples = []
        for _ in range(per_problem):
            s = replace(
                BASE,
                type_errors=rnd.choice([0, 0, 1]),
                agreement=rnd.choice([1 / 3, 1.0]),
            )
            samples.append((features_of(s), s.type_errors == 0))
        out.append(Outcome(f"HumanEval/{k}", "completed", True, 1.0, 10, [], samples=samples))
    return out


def test_fitted_beats_hand_set_on_the_same_candidates_held_out() -> None:
    summaries = [Summary("single", outcomes(1, 30, 1)), Summary("consensus", outcomes(2, 30, 3))]
    compared, problems = compare(summaries)
    assert problems == 30
    assert [c.strategy for c in compared] == ["single", "consensus", "all"]
    assert [c.candidates for c in compared] == [30, 90, 120]
    for c in compared:
        assert c.fitted[0] is not None and c.hand[0] is not None
        assert c.fitted[0] > 0.95 > c.hand[0]
    # the hand-set figures are the hand-set model's on exactly those rows
    rows = [s for o in summaries[0].outcomes for s in o.samples]
    assert compared[0].hand[0] == auc([hand_set(f) for f, _ in rows], [y for _, y in rows])
    lines = quality_lines(summaries)
    assert "grouped by problem" in lines[0] and "120 candidates of 30 problems" in lines[0]
    assert lines[1].split()[:4] == ["prediction", "candidates", "AUC", "hand"]
    assert [line.split()[0] for line in lines[2:]] == ["single", "consensus", "all"]


def test_nothing_to_hold_out_prints_nothing() -> None:
    one = [Summary("single", outcomes(1, 1, 5))]
    assert compare(one) == ([], 1)
    assert quality_lines(one) == []
    assert quality_lines([Summary("single", [])]) == []


def test_the_table_keeps_its_last_line() -> None:
    summaries = [Summary("single", outcomes(1, 10, 2)), Summary("consensus", outcomes(2, 10, 3))]
    lines = table(summaries)
    assert lines[-1].startswith("pass@1 single=1.000 consensus=1.000")
    assert any(line.startswith("quality prediction on the same 50 candidates") for line in lines)


def test_features_from_a_step_result() -> None:
    f = features_of(BASE)
    assert _features({"predicted": 0.5, "features": f}, True, 2) == [(f, True), (f, True)]
    assert _features({"predicted": 0.5}, True, 1) == []  # a server that does not keep them
    assert _features({"features": {"a": 1}}, False, 1) == [({"a": 1.0}, False)]
