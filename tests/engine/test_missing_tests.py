"""Answers with code and no tests, the way a small real model writes them (issue 17): the
answer's own top-level asserts become a test file that pytest runs, else the model is asked
once more, for tests alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.ops.missing_tests import has_tests, with_answer_asserts, with_requested_tests
from tests.engine.test_doctests_added import pytest_passes

# what SmolLM2-135M answered to "Write a function add(a, b) that returns their sum"
SMALL_MODEL_ANSWER = """def add_to_sum(a, b):
    return a + b


# Test the function
test_add = [10, 2]
assert add_to_sum(10, 2) == 12
assert add_to_sum(-5, -6) == -11
print("Test passed")
"""


def test_top_level_asserts_move_to_a_test_file_that_pytest_runs(tmp_path: Path) -> None:
    files = with_answer_asserts({"solution.py": SMALL_MODEL_ANSWER}, "python")
    assert sorted(files) == ["solution.py", "test_solution.py"]
    assert "assert" not in files["solution.py"] and "print" not in files["solution.py"]
    assert "def add_to_sum" in files["solution.py"]
    assert "assert add_to_sum(10, 2) == 12" in files["test_solution.py"]
    assert pytest_passes(files, tmp_path)


def test_wrong_asserts_fail_under_pytest(tmp_path: Path) -> None:
    wrong = SMALL_MODEL_ANSWER.replace("== 12", "== 30")
    files = with_answer_asserts({"solution.py": wrong}, "python")
    assert not pytest_passes(files, tmp_path)  # a failing test the improve loop can act on


def test_answers_with_tests_or_without_asserts_are_left_alone() -> None:
    with_tests = {"solution.py": SMALL_MODEL_ANSWER, "test_solution.py": "def test_x(): pass\n"}
    assert with_answer_asserts(with_tests, "python") == with_tests
    plain = {"solution.py": "def add(a, b):\n    return a + b\n"}
    assert with_answer_asserts(plain, "python") == plain
    broken = {"solution.py": "def add(a, b:\n    assert a\n"}
    assert with_answer_asserts(broken, "python") == broken
    assert with_answer_asserts({"index.js": "console.assert(1)\n"}, "javascript") == {
        "index.js": "console.assert(1)\n"
    }


def test_asserts_between_functions_move_and_the_functions_stay() -> None:
    code = "def f():\n    return 1\n\nassert f() == 1\n\ndef g():\n    return 2\n"
    files = with_answer_asserts({"mod.py": code}, "python")
    assert "def g" in files["mod.py"] and "assert" not in files["mod.py"]
    assert "assert f() == 1" in files["test_mod.py"]


def test_tests_are_requested_once_when_missing_and_only_test_files_are_kept() -> None:
    asked: list[dict[str, str]] = []

    async def ask(code: dict[str, str]) -> str:
        asked.append(code)
        return (
            "Here are tests:\n```python\nfrom solution import add\n\n\ndef test_add():\n"
            "    assert add(1, 2) == 3\n```\n```python\n# file: solution.py\ndef add(a, b):\n"
            "    return 0\n```\n"
        )

    code = {"solution.py": "def add(a, b):\n    return a + b\n"}
    files = asyncio.run(with_requested_tests(code, "python", ask))
    assert asked == [code]
    assert files["solution.py"] == code["solution.py"]  # the second answer's code is ignored
    assert has_tests(files, "python") and len(files) == 2


def test_nothing_is_requested_without_code_or_with_tests() -> None:
    async def ask(code: dict[str, str]) -> str:
        raise AssertionError("asked")

    assert asyncio.run(with_requested_tests({}, "python", ask)) == {}
    go = {"main.go": "package main\n", "main_test.go": "package main\n"}
    assert asyncio.run(with_requested_tests(go, "go", ask)) == go
    assert asyncio.run(with_requested_tests({"notes.md": "x"}, "python", ask)) == {"notes.md": "x"}


def test_a_failed_or_empty_second_answer_keeps_the_code() -> None:
    async def ask(code: dict[str, str]) -> str:
        return ""

    code = {"index.js": "module.exports = { add: (a, b) => a + b };\n"}
    assert asyncio.run(with_requested_tests(code, "javascript", ask)) == code
