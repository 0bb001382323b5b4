"""Diagram expressions run restricted: allow-listed syntax and a few builtins."""

from __future__ import annotations

import pytest

from engine.diagrams.expressions import ExpressionRejected, check, evaluate, execute


def test_conditions_on_task_data() -> None:
    data = {"next": {"choice": "improve"}, "report": {"score": 0.4}}
    assert evaluate("next['choice'] == 'improve'", data) is True
    assert evaluate("report['score'] > 0.5 or len([1, 2]) == 2", data) is True
    assert evaluate("[code]", {"code": {"files": {}}}) == [{"files": {}}]


@pytest.mark.parametrize(
    "source, reason",
    [
        ("import os", "imports are not allowed"),
        ("from os import system", "imports are not allowed"),
        ("__import__('os').system('id')", "leading underscore"),
        ("().__class__", "attribute '__class__'"),
        ("'{0.__class__}'.format(x)", "attribute 'format'"),
        ("while True: pass", "While is not allowed"),
        ("[x for x in range(10**9)]", "ListComp is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("2 ** 100000000", "Pow is not allowed"),
        ("a ==", "syntax error"),
    ],
)
def test_rejected(source: str, reason: str) -> None:
    with pytest.raises(ExpressionRejected, match=reason):
        check(source, mode="exec")


def test_no_dangerous_builtins_at_run_time() -> None:
    with pytest.raises(NameError):
        evaluate("open('/etc/passwd')", {})
    with pytest.raises(NameError):
        evaluate("eval('1')", {})


def test_scripts_assign_into_task_data() -> None:
    data = {"n": 1}
    execute("n = n + 1\nlabel = f'iteration {n}'", data)
    assert data["n"] == 2 and data["label"] == "iteration 2"


def test_vars_and_globals_are_the_task_data_not_the_interpreter() -> None:
    data = {"should_escalate": True}
    assert evaluate("'should_escalate' in vars() or 'should_escalate' in globals()", data)
    assert evaluate("'__builtins__' in globals() or 'open' in vars()", data) is False
    assert evaluate("'x' in vars()", {}) is False
