"""The memory cascade's pieces on their own: framework detection, what a run teaches, the
ranking features and formula, the fitted ranker, and the token budget."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from adapters.learning import FailureFix, Memory, MemoryCandidate, RunOutcome
from engine.memory.capture import avoid_names, run_memories
from engine.memory.framework import detect_framework
from engine.memory.rank import FEATURES, MIN_SAMPLES, QueryContext, Ranker, fallback_score, features
from engine.memory.recall import _fit_budget
from engine.memory.tokens import count_tokens, estimate_tokens


def test_frameworks_come_from_imports_and_manifests() -> None:
    assert detect_framework({"app.py": "from flask import Flask\nimport os\n"}, "python") == "flask"
    assert detect_framework({"requirements.txt": "# deps\nDjango==5.0\n"}, "python") == "django"
    js = {"index.js": "const express = require('express');\n"}
    assert detect_framework(js, "javascript") == "express"
    assert (
        detect_framework({"package.json": '{"dependencies": {"react": "18"}}'}, "javascript")
        == "react"
    )
    go = {"main.go": 'import (\n  "fmt"\n  "github.com/labstack/echo/v4"\n)\n'}
    assert detect_framework(go, "go") == "echo"
    assert detect_framework({"a.py": "import math\n"}, "python") == ""


def test_avoid_names_are_what_the_comment_objects_to_in_the_code() -> None:
    code = {"solution.py": "def total(t):\n    print(t)\n    return eval(t)\n"}
    assert avoid_names("Remove the debug `print` calls", code) == ["print"]
    assert avoid_names("never use eval on user input", code) == ["eval"]
    assert avoid_names("looks odd", code) == []


def test_a_run_teaches_solution_fix_correction_and_outcome() -> None:
    run = {"request": {"text": "Write add(a, b)", "project": "shop"}}
    outcome = RunOutcome(
        run_id="r1", pattern="quick", language="python", success=True, iterations=1
    )
    files = {"solution.py": "import flask\ndef add(a, b):\n    print(a)\n    return a + b\n"}
    fixes = [
        FailureFix(
            run_id="r1",
            language="python",
            signature="tests.failed: test_add",
            fix="sum",
            model_group="coder",
        ),
        FailureFix(run_id="r1", language="python", signature="lint: E1", fix=""),
    ]
    answers = [
        ("review", {"approved": False, "comment": "no `print` here"}),
        ("ok", {"approved": True}),
    ]
    kinds = {m.kind: m for m in run_memories(run, outcome, files, fixes, answers, "coder")}
    assert set(kinds) == {"outcome", "solution", "fix", "correction"}
    assert kinds["solution"].content.startswith("solution.py — def add(a, b)")
    assert kinds["solution"].framework == "flask" and kinds["solution"].scope == "project"
    assert (
        kinds["fix"].signature == "tests.failed: test_add" and kinds["fix"].model_group == "coder"
    )
    assert kinds["correction"].avoid == ["print"] and kinds["correction"].success is False
    again = run_memories(run, outcome, files, fixes, answers, "coder")
    assert [m.id for m in again] == [m.id for m in kinds.values()]  # stable ids


def _cand(
    mid: str, kind: str, *, lexical: float | None, sim: float | None, days: float = 0, **kw
) -> MemoryCandidate:  # type: ignore[no-untyped-def]
    memory = Memory(
        id=mid,
        kind=kind,
        text="t",
        language="python",
        at=datetime.now(UTC) - timedelta(days=days),
        **kw,
    )
    return MemoryCandidate(memory=memory, lexical=lexical, similarity=sim, rrf=0.01)


def test_features_and_the_fallback_formula_prefer_relevant_recent_successes() -> None:
    ctx = QueryContext(purpose="improve", signatures=frozenset({"sig"}))
    cands = [
        _cand("a", "fix", lexical=2.0, sim=0.9, signature="sig", success=True),
        _cand("b", "solution", lexical=0.2, sim=0.1, days=300, success=False),
        _cand("c", "outcome", lexical=2.0, sim=0.9, success=True),
    ]
    fa, fb, fc = features(cands, ctx)
    assert set(FEATURES) < set(fa)
    assert fa["signature"] == 1.0 and fb["signature"] == 0.0
    assert fa["relevance"] == 1.0 and fb["relevance"] < 0.2
    assert fb["recency"] < 0.01 and fc["kind"] == 0.0
    assert fallback_score(fa) > fallback_score(fc) > fallback_score(fb)


def test_the_ranker_keeps_the_formula_until_it_has_data_then_fits() -> None:
    ranker = Ranker()
    rng = random.Random(3)
    thin = [({n: rng.random() for n in FEATURES}, True) for _ in range(10)]
    assert ranker.fit(thin) is False and ranker.description.startswith("formula")
    samples = []
    for _ in range(MIN_SAMPLES + 50):
        f = {n: rng.random() for n in FEATURES}
        samples.append((f, f["helped"] > 0.5))
    assert ranker.fit(samples) is True
    assert "fitted" in ranker.description
    good = {n: 0.5 for n in FEATURES} | {"helped": 0.95}
    bad = {n: 0.5 for n in FEATURES} | {"helped": 0.05}
    assert ranker.score(good) > ranker.score(bad)


def test_the_best_five_fit_the_token_budget() -> None:
    long = "x " * 2000
    chosen = [
        (1.0, _cand(f"m{i}", "solution", lexical=1.0, sim=None, success=True), {}) for i in range(5)
    ]
    for i, (_, c, _) in enumerate(chosen):
        c.memory.content = f"{i} {long[:900]}"
    lines, tokens, how, kept = _fit_budget(chosen, 500, None)
    assert len(lines) == 5 and tokens <= 500 and how == "estimate" and kept == [0, 1, 2, 3, 4]
    assert all(line.endswith(" …") for line in lines)
    # the same lesson from several runs is one line, with their count
    for _, c, _ in chosen:
        c.memory.content = "add.py — def add(a, b)"
    lines, _, _, kept = _fit_budget(chosen, 500, None)
    assert lines == ["- Solved before (python): add.py — def add(a, b) (×5)"] and len(kept) == 5
    assert estimate_tokens("abcdefg") == 2 and count_tokens("abc", None) == (1, "estimate")
