"""Python checks: syntax with `ast`, then the generated tests with pytest in a separate process."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

from validation.report import Finding, StageResult, ValidationReport

_SUMMARY = re.compile(r"(\d+) (passed|failed|error|errors)")
_FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (\S+?)(?:::(\S+))?(?: - (.*))?$", re.M)


def safe_relative_path(name: str) -> PurePosixPath:
    """A generated file name as a path inside the work dir; refuses absolute paths and `..`."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"file name {name!r} must be a relative path inside the work dir")
    return path


def check_syntax(files: dict[str, str]) -> StageResult:
    """Parse every .py file."""
    start = time.perf_counter()
    findings = []
    for name, source in sorted(files.items()):
        if not name.endswith(".py"):
            continue
        try:
            ast.parse(source, filename=name)
        except SyntaxError as exc:
            findings.append(
                Finding(
                    file=name, line=exc.lineno, rule="syntax", message=exc.msg or "invalid syntax"
                )
            )
    status = "failed" if findings else "passed"
    return StageResult(
        name="syntax",
        status=status,
        findings=findings,
        duration_ms=(time.perf_counter() - start) * 1000,
    )


def is_test_file(name: str) -> bool:
    """pytest's default discovery: test_*.py or *_test.py."""
    base = PurePosixPath(name).name
    return base.endswith(".py") and (base.startswith("test_") or base.endswith("_test.py"))


async def run_tests(files: dict[str, str], *, timeout: float) -> tuple[StageResult, int, int]:
    """Run pytest over the files in a fresh directory; returns the stage, passed and total."""
    start = time.perf_counter()
    if not any(is_test_file(n) for n in files):
        finding = Finding(rule="tests.missing", message="no test files (test_*.py) were generated")
        return StageResult(name="tests", status="failed", findings=[finding]), 0, 0
    with tempfile.TemporaryDirectory(prefix="weavergen-validate-") as tmp:
        for name, content in files.items():
            path = Path(tmp) / safe_relative_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": tmp,
            "PYTHONPATH": tmp,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--tb=line",
            "-o",
            "addopts=",
            "--rootdir",
            tmp,
            tmp,
            cwd=tmp,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            finding = Finding(
                rule="tests.timeout", message=f"tests ran longer than {timeout:.0f} s"
            )
            return (
                StageResult(
                    name="tests",
                    status="failed",
                    findings=[finding],
                    duration_ms=(time.perf_counter() - start) * 1000,
                ),
                0,
                0,
            )
    text = out.decode(errors="replace")
    counts = {"passed": 0, "failed": 0, "error": 0}
    for n, kind in _SUMMARY.findall(text.splitlines()[-1] if text.strip() else ""):
        counts["error" if kind.startswith("error") else kind] += int(n)
    findings = [
        Finding(
            file=m.group(1),
            rule="tests.failed",
            message=(f"{m.group(2) or ''} {m.group(3) or ''}").strip() or "test failed",
        )
        for m in _FAILED_TEST.finditer(text)
    ]
    total = counts["passed"] + counts["failed"] + counts["error"]
    if proc.returncode not in (0, 1) and not findings:
        findings.append(
            Finding(
                rule="tests.error",
                message=text.strip().splitlines()[-1][:300]
                if text.strip()
                else f"pytest exited {proc.returncode}",
            )
        )
    ok = proc.returncode == 0 and total > 0
    return (
        StageResult(
            name="tests",
            status="passed" if ok else "failed",
            findings=findings,
            duration_ms=(time.perf_counter() - start) * 1000,
            detail=text[-2000:],
        ),
        counts["passed"],
        total,
    )


async def validate_python(files: dict[str, str], *, timeout: float = 60.0) -> ValidationReport:
    """Syntax first; the tests only when everything parses."""
    start = time.perf_counter()
    syntax = check_syntax(files)
    stages = [syntax]
    passed_tests = total = 0
    if syntax.status == "failed":
        stages.append(StageResult(name="tests", status="skipped", detail="syntax errors first"))
        score = 0.0
    else:
        tests, passed_tests, total = await run_tests(files, timeout=timeout)
        stages.append(tests)
        score = 0.3 + 0.7 * (passed_tests / total if total else 0.0)
    passed = all(s.status == "passed" for s in stages)
    return ValidationReport(
        language="python",
        passed=passed,
        score=round(score, 4),
        stages=stages,
        tests_passed=passed_tests,
        tests_total=total,
        duration_ms=(time.perf_counter() - start) * 1000,
    )
