"""JavaScript validation through the real mesh: node --check, eslint, node --test, sandboxed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.sandbox import Limits, Sandbox
from validation.javascript import is_test_file
from validation.mesh import ValidationMesh
from validation.report import StageResult, ValidationReport
from validation.tool_paths import Toolchain

INDEX = """\
function add(a, b) {
  return a + b;
}

module.exports = { add };
"""

INDEX_TEST = """\
const test = require('node:test');
const assert = require('node:assert');
const { add } = require('./index');

test('adds two numbers', () => {
  assert.strictEqual(add(2, 3), 5);
});

test('adds negatives', () => {
  assert.strictEqual(add(-2, -3), -5);
});
"""

GOOD = {"index.js": INDEX, "index.test.js": INDEX_TEST}


@pytest.fixture(scope="module")
def js_toolchain() -> Toolchain:
    root = Path(os.environ.get("WEAVERGEN_TOOLCHAIN_DIR", "/opt/weavergen/toolchain"))
    tc = Toolchain.at(root)
    missing = [m for m in tc.missing() if "eslint" in m or "node" in m]
    assert not missing, "; ".join(missing)
    return tc


@pytest.fixture(scope="module")
def js_mesh(js_toolchain: Toolchain) -> ValidationMesh:
    return ValidationMesh(Sandbox(read_only=js_toolchain.read_only_paths()), js_toolchain)


def stage(report: ValidationReport, name: str) -> StageResult:
    return next(s for s in report.stages if s.name == name)


async def test_passing_code_and_tests(js_mesh: ValidationMesh) -> None:
    report = await js_mesh.validate("javascript", GOOD)
    assert [(s.name, s.status) for s in report.stages] == [
        ("syntax", "passed"),
        ("lint", "passed"),
        ("tests", "passed"),
    ], [s.detail for s in report.stages]
    assert report.passed and report.score == 1.0
    assert (report.tests_passed, report.tests_total) == (2, 2)
    assert report.findings() == []


async def test_es_modules_work_without_package_json(js_mesh: ValidationMesh) -> None:
    files = {
        "src/math.mjs": "export function mul(a, b) {\n  return a * b;\n}\n",
        "test/math.test.js": (
            "import { describe, it } from 'node:test';\n"
            "import assert from 'node:assert/strict';\n"
            "import { mul } from '../src/math.mjs';\n\n"
            "describe('mul', () => {\n"
            "  it('multiplies', () => assert.equal(mul(3, 4), 12));\n"
            "  it('handles zero', () => assert.equal(mul(3, 0), 0));\n"
            "});\n"
        ),
    }
    report = await js_mesh.validate("javascript", files)
    assert report.passed and report.score == 1.0, report.findings()
    # the describe() suite is not counted, its two tests are
    assert (report.tests_passed, report.tests_total) == (2, 2)


async def test_syntax_error_stops_the_rest(js_mesh: ValidationMesh) -> None:
    files = {**GOOD, "index.js": "function add(a, b) {\n  return a +;\n}\n"}
    report = await js_mesh.validate("javascript", files)
    assert [(s.name, s.status) for s in report.stages] == [
        ("syntax", "failed"),
        ("lint", "skipped"),
        ("tests", "skipped"),
    ]
    assert not report.passed and report.score == 0.0
    [finding] = report.findings()
    assert (finding.file, finding.line, finding.rule) == ("index.js", 2, "syntax")
    assert finding.message.startswith("SyntaxError:")


async def test_lint_error_is_a_finding_but_not_blocking(js_mesh: ValidationMesh) -> None:
    index = "function area(r) {\n  return PI * r * r;\n}\n\nmodule.exports = { area };\n"
    test = (
        "const test = require('node:test');\n"
        "const assert = require('node:assert');\n"
        "const { area } = require('./index');\n\n"
        "test('area needs PI', () => {\n"
        "  assert.throws(() => area(1), ReferenceError);\n"
        "});\n"
    )
    report = await js_mesh.validate("javascript", {"index.js": index, "index.test.js": test})
    lint = stage(report, "lint")
    assert lint.status == "failed"
    [finding] = lint.findings
    assert (finding.file, finding.line, finding.rule, finding.severity) == (
        "index.js",
        2,
        "eslint.no-undef",
        "error",
    )
    assert "PI" in finding.message
    # lint is not blocking: the tests passed, so the code passed with a lower score
    assert report.passed and stage(report, "tests").status == "passed"
    assert report.score == pytest.approx((0.1 * 0.8 + 0.6) / 0.7, abs=1e-4)


async def test_failing_test_names_the_test(js_mesh: ValidationMesh) -> None:
    files = {**GOOD, "index.js": INDEX.replace("a + b", "a - b")}
    report = await js_mesh.validate("javascript", files)
    tests = stage(report, "tests")
    assert tests.status == "failed" and not report.passed
    assert (tests.tests_passed, tests.tests_total) == (0, 2)
    failed = {f.message.split(":")[0]: f for f in tests.findings}
    assert set(failed) == {"adds two numbers", "adds negatives"}
    first = failed["adds two numbers"]
    assert (first.file, first.line, first.rule) == ("index.test.js", 5, "tests.failed")
    assert "-1 !== 5" in first.message
    assert report.score == pytest.approx(0.1 / 0.7, abs=1e-4)


async def test_no_test_files(js_mesh: ValidationMesh) -> None:
    report = await js_mesh.validate("javascript", {"index.js": INDEX})
    tests = stage(report, "tests")
    assert tests.status == "failed" and not report.passed
    assert [f.rule for f in tests.findings] == ["tests.missing"]
    assert stage(report, "syntax").status == "passed"


async def test_endless_loop_is_stopped_by_the_sandbox(js_toolchain: Toolchain) -> None:
    mesh = ValidationMesh(
        Sandbox(read_only=js_toolchain.read_only_paths()),
        js_toolchain,
        limits=Limits(wall_seconds=5, cpu_seconds=3),
    )
    files = {
        "index.js": "function spin() {\n  for (;;) {\n    // never ends\n  }\n}\n\n"
        "module.exports = { spin };\n",
        "index.test.js": "const test = require('node:test');\n"
        "const { spin } = require('./index');\n\n"
        "test('forever', () => {\n  spin();\n});\n",
    }
    report = await mesh.validate("javascript", files)
    tests = stage(report, "tests")
    assert tests.status == "limit" and tests.limit_hit in ("wall", "cpu"), tests.detail
    assert tests.findings[0].rule == f"sandbox.{tests.limit_hit}"
    assert not report.passed and report.limit_hits() == [f"tests: {tests.limit_hit}"]
    assert tests.duration_ms < 15_000


def test_test_file_names() -> None:
    for name in ("a.test.js", "test_a.js", "a_test.mjs", "a-test.cjs", "test/a.js", "x.spec.js"):
        assert is_test_file(name), name
    for name in ("index.js", "testing.js", "a.test.ts", "node_modules/x/test/a.js"):
        assert not is_test_file(name), name
