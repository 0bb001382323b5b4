"""Python stages: syntax (ast), lint (ruff), types (mypy), security (bandit), tests (pytest).

Everything but the syntax check runs in the sandbox with the toolchain's Debian-python venv.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree  # noqa: S405 - parses pytest's own junit file

from validation import stages
from validation.report import Finding, StageResult
from validation.stages import Language, Stage, StageContext, Timer
from validation.tokens import python_tokens

RUFF_RULES = "E9,F,B,PLE"  # real errors and likely bugs, not style
RUFF_ARGS = ("check", "--no-cache", "--isolated", "--select", RUFF_RULES, "--output-format", "json")
MYPY_FLAGS = (
    # the toolchain's warm cache is in this format (validation/toolchain/install.sh)
    "--fixed-format-cache",
    *("--skip-cache-mtime-checks", "--ignore-missing-imports", "--no-error-summary"),
    *("--show-column-numbers", "--no-pretty"),
)
_MYPY_LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+):(?:\d+:)? (?P<level>error|note): "
    r"(?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$"
)
# what the sandbox's fork servers import once (each tool's code and plugins), so that a
# validation pays none of it; see adapters/sandbox_forkserver.py
PRELOAD = {
    "mypy": ("mypy.main",),
    "bandit": ("bandit.cli.main", "bandit.core.extension_loader"),
    "pytest": (
        "pytest",
        *(f"_pytest.{m}" for m in ("main", "config", "python", "junitxml", "terminal")),
        *(f"_pytest.{m}" for m in ("fixtures", "assertion", "capture", "logging", "doctest")),
        *(f"_pytest.{m}" for m in ("skipping", "unittest", "runner", "tmpdir", "monkeypatch")),
    ),
}
JUNIT = ".weavergen-junit.xml"
JUNIT_MAX_BYTES = 4_000_000


def is_python(files: Mapping[str, str]) -> bool:
    return any(name.endswith(".py") for name in files)


def is_test_file(name: str) -> bool:
    """pytest's default discovery: test_*.py or *_test.py."""
    base = PurePosixPath(name).name
    return base.endswith(".py") and (base.startswith("test_") or base.endswith("_test.py"))


async def syntax(ctx: StageContext) -> StageResult:
    """Parse every .py file (in-process: parsing runs no code)."""
    timer = Timer()
    findings = []
    for name, source in sorted(ctx.files.items()):
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
        except (RecursionError, MemoryError, ValueError) as exc:
            findings.append(Finding(file=name, rule="syntax", message=f"cannot parse: {exc!r}"))
    return stages.result_from("syntax", findings, timer)


async def lint(ctx: StageContext) -> StageResult:
    """ruff with rules for real errors and likely bugs."""
    timer = Timer()
    res = await stages.sandboxed(ctx, [ctx.toolchain.ruff, *RUFF_ARGS, "."])
    if res.limit_hit:
        return stages.limit_result("lint", res, ctx.limits, timer)
    try:
        items = json.loads(res.stdout or "[]")
    except ValueError:
        return stages.tool_error("lint", res, timer)
    findings = [
        Finding(
            file=_rel(i.get("filename", "")),
            line=(i.get("location") or {}).get("row"),
            rule=f"ruff.{i.get('code')}",
            message=i.get("message", ""),
            severity="warning" if str(i.get("code", "")).startswith("B") else "error",
        )
        for i in items
    ]
    return stages.result_from("lint", findings, timer)


async def types(ctx: StageContext) -> StageResult:
    """mypy with a warm, read-only standard-library cache."""
    timer = Timer()
    args = ["--cache-dir", ctx.toolchain.mypy_cache, *MYPY_FLAGS, "."]
    res = await stages.sandboxed_module(ctx, "mypy", args, preload=PRELOAD["mypy"])
    if res.limit_hit:
        return stages.limit_result("types", res, ctx.limits, timer)
    findings = []
    for line in res.stdout.splitlines():
        m = _MYPY_LINE.match(line.strip())
        if m and m.group("level") == "error":
            findings.append(
                Finding(
                    file=_rel(m.group("file")),
                    line=int(m.group("line")),
                    rule=f"mypy.{m.group('code') or 'error'}",
                    message=m.group("msg"),
                )
            )
    if res.exit_code not in (0, 1) or (res.exit_code == 1 and not findings):
        return stages.tool_error("types", res, timer)
    return stages.result_from("types", findings, timer)


async def security(ctx: StageContext) -> StageResult:
    """bandit; high-severity, high-confidence issues are errors, the rest warnings."""
    timer = Timer()
    code = [n for n in ctx.files if n.endswith(".py") and not is_test_file(n)]
    if not code:
        return StageResult(name="security", status="skipped", detail="no non-test Python files")
    args = ["-q", "-f", "json", *code]
    res = await stages.sandboxed_module(ctx, "bandit", args, preload=PRELOAD["bandit"])
    if res.limit_hit:
        return stages.limit_result("security", res, ctx.limits, timer)
    try:
        items = json.loads(res.stdout)["results"]
    except (ValueError, KeyError):
        return stages.tool_error("security", res, timer)
    findings = [
        Finding(
            file=_rel(i["filename"]),
            line=i.get("line_number"),
            rule=f"bandit.{i['test_id']}",
            message=i["issue_text"],
            severity="error"
            if i["issue_severity"] == "HIGH" and i["issue_confidence"] == "HIGH"
            else "warning",
        )
        for i in items
    ]
    return stages.result_from("security", findings, timer)


async def tests(ctx: StageContext) -> StageResult:
    """pytest over the generated tests, in the sandbox."""
    timer = Timer()
    if not any(is_test_file(n) for n in ctx.files):
        return stages.no_test_files(timer, "no test files (test_*.py) were generated")
    # (run as `python -I -m`: generated files must not shadow pytest or its plugins)
    res = await stages.sandboxed_module(
        ctx,
        "pytest",
        [
            "-c",  # and no generated pytest.ini/pyproject may change what runs
            "/dev/null",
            "--rootdir",
            "/work",
            "-q",
            "-p",
            "no:cacheprovider",
            "--tb=short",
            "-o",
            "addopts=",
            f"--junitxml={JUNIT}",
            ".",
        ],
        preload=PRELOAD["pytest"],
        env={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": "/work"},
    )
    if res.limit_hit:
        return stages.limit_result("tests", res, ctx.limits, timer)
    passed, total, findings = await asyncio.to_thread(_junit, ctx)
    if total == 0 and res.exit_code != 0:
        findings = findings or [
            Finding(rule="tests.error", message=stages.last_line(res.stdout, "pytest"))
        ]
    # a generated conftest can force the exit status: trust the per-test results too
    ok = res.exit_code == 0 and total > 0 and passed == total and not findings
    return StageResult(
        name="tests",
        status="passed" if ok else "failed",
        findings=findings,
        duration_ms=timer.ms(),
        detail=res.stdout[-3000:],
        tests_passed=passed,
        tests_total=total,
    )


def _read_junit(path: Path) -> bytes | None:
    """The junit file, read without following links or blocking on a FIFO the code left."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > JUNIT_MAX_BYTES:
            return None
        return os.read(fd, JUNIT_MAX_BYTES)
    finally:
        os.close(fd)


def _junit(ctx: StageContext) -> tuple[int, int, list[Finding]]:
    data = _read_junit(ctx.session.workdir / JUNIT)
    if data is None:
        return 0, 0, []
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - pytest's own output, size-capped
    except ElementTree.ParseError:
        return 0, 0, []
    passed = total = 0
    findings = []
    for case in root.iter("testcase"):
        total += 1
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            if case.find("skipped") is None:
                passed += 1
            continue
        file = (case.get("classname") or "").replace(".", "/") + ".py"
        findings.append(
            Finding(
                file=file,
                rule="tests.failed",
                message=f"{case.get('name')}: {(problem.get('message') or '')[:300]}",
            )
        )
    return passed, total, findings


def _rel(path: str) -> str:
    return path.removeprefix("/work/").removeprefix("./")


STAGES = [
    Stage("syntax", syntax, weight=0.0, blocking=True, gate=True, applies=is_python),
    Stage("lint", lint, weight=0.1, concurrent=True, applies=is_python),
    Stage("types", types, weight=0.15, concurrent=True, applies=is_python),
    Stage("security", security, weight=0.1, blocking=True, concurrent=True, applies=is_python),
    Stage("tests", tests, weight=0.6, blocking=True),
]

LANGUAGE = Language(
    name="python",
    extensions=(".py",),
    stages=tuple(STAGES),
    is_test_file=is_test_file,
    block_extension="py",
    tokens=python_tokens,
    test_support=frozenset({"conftest.py"}),  # pytest's fixtures: part of the tests
    python_tools=tuple(PRELOAD.items()),
)
