"""Minimal Python validation: syntax, then the generated tests in a separate process."""

from __future__ import annotations

import pytest

from validation import validate
from validation.python import safe_relative_path

GOOD = {
    "solution.py": "def add(a, b):\n    return a + b\n",
    "test_solution.py": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


async def test_passing_code_scores_one() -> None:
    report = await validate("python", GOOD)
    assert report.passed and report.score == 1.0
    assert [s.status for s in report.stages] == ["passed", "passed"]
    assert (report.tests_passed, report.tests_total) == (1, 1)


async def test_failing_test_is_a_finding() -> None:
    files = {**GOOD, "solution.py": "def add(a, b):\n    return a - b\n"}
    report = await validate("python", files)
    assert not report.passed and report.score == pytest.approx(0.3)
    [finding] = report.findings()
    assert finding.rule == "tests.failed" and finding.file == "test_solution.py"


async def test_syntax_error_stops_before_tests() -> None:
    report = await validate("python", {"solution.py": "def add(a, b)\n    return a\n"})
    assert report.score == 0.0
    assert [(s.name, s.status) for s in report.stages] == [
        ("syntax", "failed"),
        ("tests", "skipped"),
    ]
    assert report.findings()[0].line == 1


async def test_missing_tests_do_not_pass() -> None:
    report = await validate("python", {"solution.py": "x = 1\n"})
    assert not report.passed and report.findings()[0].rule == "tests.missing"


async def test_endless_test_is_stopped() -> None:
    files = {"test_loop.py": "def test_forever():\n    while True:\n        pass\n"}
    report = await validate("python", files, timeout=2)
    assert not report.passed and report.findings()[0].rule == "tests.timeout"


def test_paths_stay_inside_the_work_dir() -> None:
    for bad in ("/etc/passwd", "../x.py", "a/../../b.py"):
        with pytest.raises(ValueError):
            safe_relative_path(bad)
