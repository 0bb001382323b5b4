"""The HumanEval bench of the validation mesh: a real short run, and the judging rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.humaneval import humaneval_test_file
from bench.validate.command import main
from bench.validate.items import BenchItem
from bench.validate.report import format_result
from bench.validate.results import BenchResult, ItemResult
from bench.validate.running import run_items
from standin.humaneval_mutations import broken_variants
from standin.humaneval_problems import Problem, get_problem
from validation.mesh import ValidationMesh
from validation.report import Finding, StageResult, StageStatus, ValidationReport

LAST_LINE = re.compile(
    r"^references passed (\d+)/(\d+), broken variants caught (\d+)/(\d+), \d+\.\d s$"
)


def test_short_real_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    code = main(["--humaneval", "--limit", "5", "--json", str(out_json)])
    out, err = capsys.readouterr()
    last = out.rstrip("\n").splitlines()[-1]
    m = LAST_LINE.match(last)
    assert m, last
    refs, problems, caught, total = map(int, m.groups())
    expected = sum(len(broken_variants(f"HumanEval/{i}")) for i in range(5))
    assert (refs, problems) == (5, 5)
    assert caught == total == expected
    assert code == 0, out
    assert "references that failed: none" in out and "broken variants not caught: none" in out
    for stage in ("lint", "types", "security", "tests"):
        assert re.search(rf"^  {stage} +{5 + expected} ", out, re.M), f"{stage} did not run on all"
    assert "validate-bench:" in err  # the progress lines
    data = json.loads(out_json.read_text())
    assert len(data["items"]) == 5 + expected and data["ok"] is True


def test_test_file_imports_the_helpers_the_tests_call() -> None:
    assert humaneval_test_file(get_problem("HumanEval/38")).startswith(
        "from solution import decode_cyclic, encode_cyclic\n"
    )
    text = humaneval_test_file(get_problem("HumanEval/0"))
    assert text.startswith("from solution import has_close_elements\n")
    assert text.endswith("def test_humaneval():\n    check(has_close_elements)\n")


def test_humaneval_flag_is_required() -> None:
    with pytest.raises(SystemExit):
        main(["--limit", "1"])


ADD = Problem(
    task_id="Custom/1",
    prompt="def add(a: int, b: int) -> int:\n",
    canonical_solution="    return a + b\n",
    test="def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n",
    entry_point="add",
)


async def test_wrong_reference_and_surviving_variant_are_reported(mesh: ValidationMesh) -> None:
    items = [
        BenchItem(ADD, "reference", ADD.prompt + "    return a - b\n"),  # a wrong "reference"
        BenchItem(ADD, "broken", ADD.prompt + "    return b + a\n", "commuted"),  # not broken
        BenchItem(ADD, "broken", ADD.prompt + "    return a * b\n", "times"),  # tests fail
        BenchItem(ADD, "broken", ADD.prompt + "    return a +\n", "syntax"),  # the gate fails
    ]
    result = await run_items(mesh, items, problems=1, concurrency=2)
    assert [r.item.mutation for r in result.items] == [None, "commuted", "times", "syntax"]
    assert [r.tests_status for r in result.items] == ["failed", "passed", "failed", "skipped"]
    assert result.items[3].gate_failed and result.items[3].caught
    assert (result.references_passed, result.broken_caught, result.broken_total) == (0, 2, 3)
    assert not result.ok
    lines = format_result(result)
    text = "\n".join(lines)
    failed = text.split("references that failed: 1\n")[1].splitlines()[0]
    assert failed.startswith("  Custom/1: ") and "tests.failed" in failed and "assert" in failed
    assert "broken variants not caught: 1\n  Custom/1 [commuted]: tests passed" in text
    assert LAST_LINE.match(lines[-1]) and lines[-1].startswith(
        "references passed 0/1, broken variants caught 2/3, "
    )


def _report(
    tests: StageStatus, *, gate: StageStatus = "passed", lint: list[Finding] | None = None
) -> ValidationReport:
    stages = [
        StageResult(name="syntax", status=gate),
        StageResult(name="lint", status="failed" if lint else "passed", findings=lint or []),
        StageResult(name="tests", status=tests),
    ]
    return ValidationReport(language="python", passed=False, score=0.0, stages=stages)


def test_judging_rules() -> None:
    ref = BenchItem(ADD, "reference", "")
    bad = BenchItem(ADD, "broken", "", "m")
    lint = [Finding(rule="ruff.F841", message="unused")]
    # a reference passes on its tests stage alone; lint findings do not count against it
    assert ItemResult(ref, _report("passed", lint=lint)).correct
    assert not ItemResult(ref, _report("limit")).correct
    # a variant is caught by failed tests, a sandbox limit, or a failed gate
    assert ItemResult(bad, _report("failed")).correct
    assert ItemResult(bad, _report("limit")).correct
    assert ItemResult(bad, _report("skipped", gate="failed")).correct
    assert not ItemResult(bad, _report("passed", lint=lint)).correct
    # a validation that raised is wrong either way
    assert not ItemResult(ref, None, error="boom").correct
    assert not ItemResult(bad, None, error="boom").correct
    result = BenchResult(
        problems=1,
        concurrency=1,
        wall_s=1.25,
        items=[ItemResult(ref, _report("passed", lint=lint)), ItemResult(bad, _report("limit"))],
    )
    assert result.ok and result.summary_line() == (
        "references passed 1/1, broken variants caught 1/1, 1.2 s"
    )
    text = "\n".join(format_result(result))
    assert "lint        1 errors in   1 references" in text
    assert "(failed = tests limit: 1)" in text
