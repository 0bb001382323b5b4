"""Quality prediction: monotone in every signal, bounded, and measured by AUC and Brier score."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from engine.decisions.quality import (
    CLEAN,
    GATE_STAGES,
    Signals,
    auc,
    brier,
    predict,
    signals_from_report,
)
from validation.mesh import LANGUAGES
from validation.report import Finding, StageResult, ValidationReport

BASE = CLEAN


def p(**changes: object) -> float:
    return predict(replace(BASE, **changes))[0]  # type: ignore[arg-type]


def test_no_signal_is_the_base_rate() -> None:
    prob, terms = predict(BASE)
    assert prob == 0.5
    assert terms == {"prior": 0.0, "agreement": 0.0, "lint": 0.0, "types": 0.0, "security": 0.0}


def test_more_agreement_is_higher() -> None:
    five = [p(candidates=5, agreement=k / 5) for k in range(1, 6)]
    assert five == sorted(five) and len(set(five)) == 5
    assert p(candidates=3, agreement=1.0) == round(1 / (1 + math.exp(-3.0)), 4)
    assert p(candidates=3, agreement=2 / 3) == round(1 / (1 + math.exp(-1.5)), 4)
    # alone among three or more is worse than no consensus at all; alone of two is neutral
    assert p(candidates=3, agreement=1 / 3) < p() == p(candidates=2, agreement=0.5)


def test_more_errors_are_lower() -> None:
    types = [p(type_errors=k) for k in range(8)]
    assert types == sorted(types, reverse=True)
    assert types[6] == types[7]  # at most six counted
    assert p(lint_errors=1) < p() and p(security_errors=1) < p()
    assert p(type_errors=1) < p(lint_errors=1) < p(security_errors=1)


def test_better_history_is_higher() -> None:
    assert p(history_passed=0, history_total=10) < p() < p(history_passed=10, history_total=10)
    assert p(history_passed=3, history_total=10) < p(history_passed=7, history_total=10)
    _, terms = predict(replace(BASE, history_passed=2, history_total=2))
    assert terms["prior"] == round(math.log(3 / 4 / (1 / 4)), 4)  # Beta(3, 1) mean 3/4


def test_gate_failure_and_bounds() -> None:
    assert p(gate_failed=True) == 0.02
    assert (
        p(gate_failed=True, candidates=5, agreement=1.0, history_passed=50, history_total=50)
        == 0.02
    )
    best = p(candidates=5, agreement=1.0, history_passed=1000, history_total=1000)
    worst = p(
        candidates=5,
        agreement=0.2,
        lint_errors=99,
        type_errors=99,
        security_errors=99,
        history_passed=0,
        history_total=1000,
    )
    assert best == 0.99 and worst == 0.01
    odd = p(candidates=0, agreement=7.0, lint_errors=-3, history_passed=5, history_total=2)
    assert 0.01 <= odd <= 0.99


def test_auc_known_values() -> None:
    assert auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert auc([0.5] * 4, [True, False, True, False]) == 0.5
    assert auc([0.3, 0.7], [True, True]) is None
    assert auc([], []) is None
    # positives 0.8, 0.5; negatives 0.5, 0.2, 0.1: pairs won 3 + (0.5 tie) + 2 = 5.5 of 6
    assert auc([0.8, 0.5, 0.5, 0.2, 0.1], [True, True, False, False, False]) == pytest.approx(
        5.5 / 6
    )
    with pytest.raises(ValueError):
        auc([0.1], [True, False])


def test_auc_matches_counting_pairs() -> None:
    preds = [0.1, 0.4, 0.4, 0.35, 0.8, 0.8, 0.8, 0.05, 0.6]
    labels = [False, True, False, True, True, False, True, False, False]
    pos = [x for x, y in zip(preds, labels, strict=True) if y]
    neg = [x for x, y in zip(preds, labels, strict=True) if not y]
    pairs = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    assert auc(preds, labels) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_brier_known_values() -> None:
    assert brier([], []) is None
    assert brier([1.0, 0.0], [True, False]) == 0.0
    assert brier([0.0, 1.0], [True, False]) == 1.0
    assert brier([0.5] * 3, [True, False, True]) == 0.25
    assert brier([0.8, 0.3], [True, True]) == pytest.approx((0.04 + 0.49) / 2)


def stage(name: str, status: str, *findings: Finding) -> StageResult:
    return StageResult(name=name, status=status, findings=list(findings))  # type: ignore[arg-type]


def err(rule: str, severity: str = "error") -> Finding:
    return Finding(rule=rule, message="m", severity=severity)  # type: ignore[arg-type]


def report(language: str, *stages: StageResult) -> ValidationReport:
    return ValidationReport(language=language, passed=False, score=0.5, stages=list(stages))


def test_signals_from_a_python_report() -> None:
    r = report(
        "python",
        stage("syntax", "passed"),
        stage("lint", "failed", err("F821"), err("F841"), err("B006", "warning")),
        stage("types", "failed", err("mypy.arg-type")),
        stage("security", "passed", err("bandit.B101", "warning")),
        stage("tests", "failed", err("tests.failed")),
    )
    s = signals_from_report(r, agreement=2 / 3, candidates=3, history=(4, 5))
    assert s == Signals(
        gate_failed=False,
        lint_errors=2,
        type_errors=1,
        security_errors=0,
        agreement=2 / 3,
        candidates=3,
        history_passed=4,
        history_total=5,
    )
    broken = report(
        "python",
        stage("syntax", "failed", err("syntax")),
        *(stage(n, "skipped") for n in ("lint", "types", "security", "tests")),
    )
    assert signals_from_report(broken).gate_failed
    assert predict(signals_from_report(broken))[0] == 0.02


def test_signals_from_a_go_report() -> None:
    r = report(
        "go",
        stage("build", "passed"),
        stage("format", "failed", err("gofmt")),
        stage("vet", "failed", err("vet.printf"), err("vet.unusedresult", "warning")),
        stage("tests", "skipped"),
    )
    s = signals_from_report(r)
    assert (s.gate_failed, s.lint_errors, s.type_errors, s.security_errors) == (False, 2, 0, 0)
    assert (s.agreement, s.candidates, s.history_passed, s.history_total) == (1.0, 1, 0, 0)
    build_failed = report(
        "go", stage("build", "failed", err("go.build")), stage("format", "skipped")
    )
    assert signals_from_report(build_failed).gate_failed
    build_limit = report("go", stage("build", "limit", err("sandbox.wall")))
    assert signals_from_report(build_limit).gate_failed


def test_limits_and_tool_failures() -> None:
    vet_limit = report("go", stage("build", "passed"), stage("vet", "limit", err("sandbox.cpu")))
    assert signals_from_report(vet_limit).gate_failed
    tool = report("python", stage("syntax", "passed"), stage("lint", "failed", err("lint.tool")))
    assert signals_from_report(tool).lint_errors == 0
    skipped_gate = report("javascript", stage("syntax", "skipped"), stage("lint", "passed"))
    assert not signals_from_report(skipped_gate).gate_failed
    unsupported = report("cobol", stage("language", "failed", err("language.unsupported")))
    assert signals_from_report(unsupported).gate_failed
    tests_limit = report("python", stage("syntax", "passed"), stage("tests", "limit"))
    assert not signals_from_report(tests_limit).gate_failed  # tests are not a cheap signal


def test_gate_stages_match_the_validation_mesh() -> None:
    gates = {lang: [s.name for s in stages if s.gate] for lang, stages in LANGUAGES.items()}
    assert gates == {lang: [name] for lang, name in GATE_STAGES.items()}
    for lang, stages in LANGUAGES.items():
        assert stages[0].name == GATE_STAGES[lang]
