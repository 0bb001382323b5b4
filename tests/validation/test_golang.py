"""Go validation through the real mesh: build, gofmt, go vet, go test -json, sandboxed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.sandbox import Limits, Sandbox
from validation.golang import compile_findings, parse_test_events
from validation.mesh import ValidationMesh
from validation.report import StageResult, ValidationReport
from validation.tool_paths import Toolchain

ADD = """\
package solution

// Add returns a + b.
func Add(a, b int) int {
\treturn a + b
}
"""

ADD_TEST = """\
package solution

import "testing"

func TestAdd(t *testing.T) {
\tif got := Add(1, 2); got != 3 {
\t\tt.Fatalf("Add(1, 2) = %d, want 3", got)
\t}
}
"""

GOOD = {"add.go": ADD, "add_test.go": ADD_TEST}


@pytest.fixture(scope="module")
def go_toolchain() -> Toolchain:
    tc = Toolchain.at(Path(os.environ.get("WEAVERGEN_TOOLCHAIN_DIR", "/opt/weavergen/toolchain")))
    assert Path(tc.go).exists(), f"go not found at {tc.go}; run make install"
    assert (Path(tc.go_cache) / "seed").is_dir(), "no warm Go cache; run make toolchain"
    return tc


@pytest.fixture(scope="module")
def go_mesh(go_toolchain: Toolchain) -> ValidationMesh:
    return ValidationMesh(Sandbox(read_only=go_toolchain.read_only_paths()), go_toolchain)


def stage(report: ValidationReport, name: str) -> StageResult:
    return next(s for s in report.stages if s.name == name)


def statuses(report: ValidationReport) -> dict[str, str]:
    return {s.name: s.status for s in report.stages}


async def test_passing_package_and_test(go_mesh: ValidationMesh) -> None:
    report = await go_mesh.validate("go", GOOD)
    assert report.passed and report.score == 1.0, report.findings()
    assert statuses(report) == dict.fromkeys(["build", "format", "vet", "tests"], "passed")
    assert (report.tests_passed, report.tests_total) == (1, 1)
    # the warm, read-only cache: a cold go test spends ~9 s compiling the standard library
    assert stage(report, "tests").duration_ms < 5000


async def test_compile_error_stops_before_the_rest(go_mesh: ValidationMesh) -> None:
    files = {**GOOD, "add.go": ADD.replace("return a + b", "return a +")}
    report = await go_mesh.validate("go", files)
    assert report.score == 0.0 and not report.passed
    assert statuses(report) == {
        "build": "failed",
        "format": "skipped",
        "vet": "skipped",
        "tests": "skipped",
    }
    [finding] = report.findings()
    assert (finding.file, finding.line, finding.rule) == ("add.go", 6, "go.syntax")


async def test_compile_error_in_a_test_file_is_a_build_finding(go_mesh: ValidationMesh) -> None:
    files = {**GOOD, "add_test.go": ADD_TEST.replace("Add(1, 2);", "Add(1);")}
    report = await go_mesh.validate("go", files)
    assert stage(report, "build").status == "failed" and report.score == 0.0
    [finding] = report.findings()
    assert (finding.file, finding.line) == ("add_test.go", 6)
    assert "not enough arguments" in finding.message


async def test_unformatted_code_is_a_finding_but_not_blocking(go_mesh: ValidationMesh) -> None:
    files = {**GOOD, "add.go": ADD.replace("\treturn a + b", "  return a+b")}
    report = await go_mesh.validate("go", files)
    assert report.passed and stage(report, "format").status == "failed"
    [finding] = report.findings()
    assert (finding.file, finding.line, finding.rule) == ("add.go", 5, "gofmt")
    # format 0.8 of its 0.05; vet 0.1 and tests 0.6 full
    assert report.score == pytest.approx((0.05 * 0.8 + 0.7) / 0.75, abs=1e-4)


async def test_vet_names_the_analyzer(go_mesh: ValidationMesh) -> None:
    code = ADD.replace("package solution\n", 'package solution\n\nimport "fmt"\n') + (
        '\n// Show formats x.\nfunc Show(x int) string {\n\treturn fmt.Sprintf("%s", x)\n}\n'
    )
    report = await go_mesh.validate("go", {**GOOD, "add.go": code})
    assert report.passed and stage(report, "vet").status == "failed"
    [finding] = report.findings()
    assert (finding.file, finding.line, finding.rule) == ("add.go", 12, "vet.printf")


async def test_failing_test_is_named(go_mesh: ValidationMesh) -> None:
    report = await go_mesh.validate("go", {**GOOD, "add.go": ADD.replace("a + b", "a - b")})
    assert not report.passed and stage(report, "tests").status == "failed"
    assert (report.tests_passed, report.tests_total) == (0, 1)
    [finding] = report.findings()
    assert (finding.file, finding.line, finding.rule) == ("add_test.go", 7, "tests.failed")
    assert finding.message.startswith("TestAdd:") and "want 3" in finding.message
    assert report.score == pytest.approx(0.15 / 0.75, abs=1e-4)


async def test_subtests_count_as_cases(go_mesh: ValidationMesh) -> None:
    table = ADD_TEST.replace(
        "func TestAdd(t *testing.T) {",
        "func TestTable(t *testing.T) {\n\tfor _, c := range []struct{ a, b, want int }{{1, 2, 3}, "
        '{2, 2, 5}} {\n\t\tt.Run("", func(t *testing.T) {\n\t\t\tif Add(c.a, c.b) != c.want {'
        '\n\t\t\t\tt.Errorf("Add(%d, %d) != %d", c.a, c.b, c.want)\n\t\t\t}\n\t\t})\n\t}\n}\n\n'
        "func TestAdd(t *testing.T) {",
    )
    report = await go_mesh.validate("go", {**GOOD, "add_test.go": table})
    assert (report.tests_passed, report.tests_total) == (2, 3)
    [finding] = report.findings()
    assert finding.message.startswith("TestTable/#01:") and finding.line == 9


async def test_missing_tests_do_not_pass(go_mesh: ValidationMesh) -> None:
    report = await go_mesh.validate("go", {"add.go": ADD})
    assert not report.passed and stage(report, "build").status == "passed"
    assert [f.rule for f in report.findings()] == ["tests.missing"]


async def test_endless_test_is_stopped_by_the_sandbox(go_toolchain: Toolchain) -> None:
    mesh = ValidationMesh(
        Sandbox(read_only=go_toolchain.read_only_paths()),
        go_toolchain,
        limits=Limits(cpu_seconds=2, wall_seconds=30),
    )
    loop = 'package solution\n\nimport "testing"\n\nfunc TestForever(t *testing.T) {\n\tfor {\n\t}\n}\n'
    report = await mesh.validate("go", {"add.go": ADD, "loop_test.go": loop})
    tests = stage(report, "tests")
    assert tests.status == "limit" and tests.limit_hit == "cpu" and not report.passed
    assert [f.rule for f in tests.findings] == ["sandbox.cpu", "tests.limit"]
    assert tests.findings[1].file == "loop_test.go" and "TestForever" in tests.findings[1].message


async def test_generated_code_cannot_write_the_shared_cache(
    go_mesh: ValidationMesh, go_toolchain: Toolchain
) -> None:
    seed = Path(go_toolchain.go_cache) / "seed"
    victim = next(seed.iterdir())
    attack = f"""\
package solution

import (
\t"os"
\t"testing"
)

func TestPoison(t *testing.T) {{
\tif err := os.WriteFile("{seed}/0000-a", []byte("x"), 0o644); err == nil {{
\t\tt.Fatal("wrote a new cache entry")
\t}}
\tif f, err := os.OpenFile("{victim}", os.O_WRONLY|os.O_APPEND, 0); err == nil {{
\t\tf.Close()
\t\tt.Fatal("opened a cache entry for writing")
\t}}
}}
"""
    before = victim.stat().st_mtime_ns
    report = await go_mesh.validate("go", {"add.go": ADD, "poison_test.go": attack})
    assert stage(report, "tests").status == "passed", report.findings()
    assert victim.stat().st_mtime_ns == before and not (seed / "0000-a").exists()


def test_compiler_messages_are_parsed_once() -> None:
    stderr = (
        '# solution\n./add.go:3:8: "strings" imported and not used\n'
        '# solution [solution.test]\n./add.go:3:8: "strings" imported and not used\n'
        "vet: sub/s.go:3:19: too many return values\n\thave (number)\n\twant ()\n"
    )
    found = [(f.file, f.line, f.message) for f in compile_findings(stderr)]
    assert found == [
        ("add.go", 3, '"strings" imported and not used'),
        ("sub/s.go", 3, "too many return values have (number) want ()"),
    ]


def test_test_events_are_counted() -> None:
    events = "\n".join(
        [
            '{"Action":"run","Package":"p","Test":"TestA"}',
            '{"Action":"pass","Package":"p","Test":"TestA"}',
            '{"Action":"run","Package":"p","Test":"TestB"}',
            '{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:4: boom\\n"}',
            '{"Action":"fail","Package":"p","Test":"TestB"}',
            '{"Action":"run","Package":"p","Test":"TestC"}',
            "not json",
        ]
    )
    run = parse_test_events(events)
    assert run.counts() == (1, 2)
    assert run.failed() == [("p", "TestB")] and run.unfinished() == [("p", "TestC")]
    assert "boom" in run.text and "not json" in run.text
