"""The Python mesh in the sandbox: syntax, lint, types, security, tests; score and skips."""

from __future__ import annotations

import pytest

from adapters.sandbox import Limits
from validation.mesh import ValidationMesh

GOOD = {
    "solution.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
    "test_solution.py": "from solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


def statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {s.name: s.status for s in report.stages}


async def test_passing_code_scores_one(mesh: ValidationMesh) -> None:
    report = await mesh.validate("python", GOOD)
    assert report.passed and report.score == 1.0
    assert statuses(report) == dict.fromkeys(
        ["syntax", "lint", "types", "security", "tests"], "passed"
    )
    assert (report.tests_passed, report.tests_total) == (1, 1)


async def test_failing_test_is_a_finding(mesh: ValidationMesh) -> None:
    files = {**GOOD, "solution.py": "def add(a, b):\n    return a - b\n"}
    report = await mesh.validate("python", files)
    assert not report.passed
    [finding] = [f for f in report.findings() if f.rule == "tests.failed"]
    assert finding.file == "test_solution.py" and "test_add" in finding.message
    # lint, types and security pass (0.1 + 0.15 + 0.1), tests 0 of 1 (weight 0.6)
    assert report.score == pytest.approx(0.35 / 0.95, abs=1e-4)


async def test_syntax_error_stops_before_the_rest(mesh: ValidationMesh) -> None:
    report = await mesh.validate("python", {"solution.py": "def add(a, b)\n    return a\n"})
    assert report.score == 0.0 and not report.passed
    assert statuses(report) == {
        "syntax": "failed",
        "lint": "skipped",
        "types": "skipped",
        "security": "skipped",
        "tests": "skipped",
    }
    assert report.findings()[0].line == 1


async def test_lint_types_and_security_findings(mesh: ValidationMesh) -> None:
    files = {
        "solution.py": "import os\nimport subprocess\n\n\ndef run(cmd: str) -> int:\n"
        "    x: int = 'text'\n    return subprocess.call(cmd, shell=True)\n",
        "test_solution.py": "def test_nothing():\n    assert True\n",
    }
    report = await mesh.validate("python", files)
    rules = {f.rule: f for f in report.findings()}
    assert rules["ruff.F401"].line == 1
    assert rules["mypy.assignment"].line == 6
    assert rules["bandit.B602"].file == "solution.py"
    assert statuses(report)["security"] == "failed", "shell=True with a variable is a high finding"
    assert not report.passed


async def test_missing_tests_do_not_pass(mesh: ValidationMesh) -> None:
    report = await mesh.validate("python", {"solution.py": "X = 1\n"})
    assert not report.passed
    assert [f.rule for f in report.findings()] == ["tests.missing"]


async def test_endless_test_is_a_limit_hit_not_a_failure(mesh_factory) -> None:  # type: ignore[no-untyped-def]
    mesh = mesh_factory(Limits(cpu_seconds=2, wall_seconds=10))
    files = {"test_loop.py": "def test_forever():\n    while True:\n        pass\n"}
    report = await mesh.validate("python", files)
    tests = next(s for s in report.stages if s.name == "tests")
    assert tests.status == "limit" and tests.limit_hit == "cpu"
    assert tests.findings[0].rule == "sandbox.cpu"
    assert report.limit_hits() == ["tests: cpu"] and not report.passed


async def test_unknown_language(mesh: ValidationMesh) -> None:
    report = await mesh.validate("cobol", {"a.cob": ""})
    assert not report.passed and report.findings()[0].rule == "language.unsupported"
