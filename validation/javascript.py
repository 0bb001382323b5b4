"""JavaScript stages: syntax (node --check), lint (eslint), tests (node --test).

Everything runs in the sandbox with the machine's node and the toolchain's pinned eslint.

Module systems: generated code may be CommonJS (`require`, `module.exports`) or ES modules
(`import`/`export`), in .js, .cjs or .mjs files, with or without a package.json. Nothing
extra is written into the work dir. Without a package.json "type", node (20.19 and later)
treats a .js file as CommonJS unless it contains module syntax, in which case it loads it
as an ES module; CommonJS may `require()` such a module, and ES modules may `import`
CommonJS. A generated package.json is honoured as node would honour it.

Tests: test files are run with node's own runner (`node:test`); the TAP it prints is parsed
for one finding per failing test (file, line, test name, message). Counts are of leaf tests:
suites and tests with subtests are not counted, skipped tests count as not passed, todo tests
are not counted, and a test file that defines no tests adds nothing. A test file that fails
outside any test (it does not load, or it exits early) counts as one failed test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from adapters.sandbox_limits import LimitHit
from validation import stages
from validation.report import Finding, StageResult
from validation.stages import Language, Stage, StageContext, Timer
from validation.tokens import javascript_tokens

EXTENSIONS = (".js", ".mjs", ".cjs")
TEST_DIRS = frozenset({"test", "tests", "__tests__"})
NODE_ENV = {"NO_COLOR": "1", "NODE_ENV": "test"}
_HEADER = re.compile(r"^(?P<file>.+):(?P<line>\d+)$")
_ERROR = re.compile(r"^(?P<kind>[A-Za-z]*Error)(?: \[\w+\])?: (?P<msg>.*)$")
_RESULT = re.compile(
    r"^(?P<indent> *)(?P<ok>ok|not ok) \d+ - (?P<name>.*?)"
    r"(?: # (?P<directive>SKIP|TODO)\b.*)?$"
)
_SUBTEST = re.compile(r"^(?P<indent> *)# Subtest: (?P<name>.*)$")
_LOCATION = re.compile(r"^(?:file://)?(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")
_SIGNALS: dict[str, LimitHit] = {"SIGXCPU": "cpu", "SIGXFSZ": "file_size"}


def is_javascript(files: Mapping[str, str]) -> bool:
    return any(_is_js(name) for name in files)


def is_test_file(name: str) -> bool:
    """node's default test patterns plus pytest-like names: *.test.js, *_test.js, *-test.js,
    test_*.js, test-*.js, test.js, *.spec.js, and any .js/.mjs/.cjs under test/ or tests/."""
    if not _is_js(name):
        return False
    path = PurePosixPath(name)
    stem = path.name.rsplit(".", 1)[0]
    return (
        stem == "test"
        or stem.endswith((".test", "_test", "-test", ".spec"))
        or stem.startswith(("test_", "test-"))
        or any(part in TEST_DIRS for part in path.parts[:-1])
    )


async def syntax(ctx: StageContext) -> StageResult:
    """`node --check` on every JavaScript file (parses, runs nothing)."""
    timer = Timer()
    findings = []
    for name in sorted(n for n in ctx.files if _is_js(n)):
        res = await stages.sandboxed(ctx, [ctx.toolchain.node, "--check", name], env=NODE_ENV)
        if res.limit_hit:
            return stages.limit_result("syntax", res, ctx.limits, timer)
        if res.exit_code != 0:
            findings.append(_syntax_finding(name, res.stderr or res.stdout))
    return stages.result_from("syntax", findings, timer)


def _syntax_finding(name: str, text: str) -> Finding:
    lines = text.strip().splitlines()
    line = None
    if lines and (m := _HEADER.match(lines[0].strip())):
        line = int(m.group("line"))
    message = next(
        (ln.strip() for ln in lines if _ERROR.match(ln.strip())),
        lines[-1].strip() if lines else "node --check failed",
    )
    return Finding(file=name, line=line, rule="syntax", message=message[:300])


async def lint(ctx: StageContext) -> StageResult:
    """eslint with the toolchain's pinned flat config (recommended rules, node globals)."""
    timer = Timer()
    names = sorted(n for n in ctx.files if _is_js(n))
    res = await stages.sandboxed(
        ctx,
        [
            ctx.toolchain.node,
            ctx.toolchain.eslint,
            "--config",
            ctx.toolchain.eslint_config,
            "--format",
            "json",
            "--no-warn-ignored",
            "--",
            *names,
        ],
        env=NODE_ENV,
    )
    if res.limit_hit:
        return stages.limit_result("lint", res, ctx.limits, timer)
    try:
        reports = json.loads(res.stdout)
    except ValueError:
        return stages.tool_error("lint", res, timer)
    if res.exit_code not in (0, 1) or not isinstance(reports, list):
        return stages.tool_error("lint", res, timer)
    findings = [
        Finding(
            file=_rel(r.get("filePath", "")),
            line=m.get("line"),
            rule=f"eslint.{m.get('ruleId') or ('parse' if m.get('fatal') else 'error')}",
            message=str(m.get("message", ""))[:300],
            severity="error" if m.get("severity") == 2 else "warning",
        )
        for r in reports
        for m in r.get("messages", [])
    ]
    return stages.result_from("lint", findings, timer)


async def tests(ctx: StageContext) -> StageResult:
    """node's test runner over the generated test files, one file at a time."""
    timer = Timer()
    names = sorted(n for n in ctx.files if is_test_file(n))
    if not names:
        return stages.no_test_files(
            timer,
            "no JavaScript test files (*.test.js, test_*.js, *_test.js or files under test/) "
            "were generated",
        )
    res = await stages.sandboxed(
        ctx,
        [ctx.toolchain.node, "--test", "--test-concurrency=1", "--test-reporter=tap", "--", *names],
        env=NODE_ENV,
    )
    if res.limit_hit:
        return stages.limit_result("tests", res, ctx.limits, timer)
    tap = parse_tap(res.stdout, {str(PurePosixPath("/work") / n) for n in names})
    if tap.limit_hit:
        # the runner survived, but the sandbox's per-process limit killed a test file
        hit = res.model_copy(update={"limit_hit": tap.limit_hit})
        return stages.limit_result("tests", hit, ctx.limits, timer)
    findings = tap.findings
    ok = res.exit_code == 0 and tap.total > 0 and not findings
    if not ok and not findings:
        findings = [
            Finding(
                rule="tests.missing",
                message="the test files define no tests; write them with node:test",
            )
            if res.exit_code == 0
            else Finding(
                rule="tests.error",
                message=stages.last_line(res.stderr or res.stdout, "node --test"),
            )
        ]
    return StageResult(
        name="tests",
        status="passed" if ok else "failed",
        findings=findings,
        duration_ms=timer.ms(),
        detail=res.stdout[-3000:],
        tests_passed=tap.passed,
        tests_total=tap.total,
    )


@dataclass
class TapSummary:
    """What node's TAP output says: leaf-test counts, failures, and a killed test file."""

    passed: int = 0
    total: int = 0
    findings: list[Finding] = field(default_factory=list)
    limit_hit: LimitHit | None = None


def parse_tap(text: str, test_files: set[str]) -> TapSummary:
    """Parse node's TAP reporter output (nested subtests are indented four spaces)."""
    out = TapSummary()
    lines = text.splitlines()
    names: list[tuple[int, str]] = []  # the open "# Subtest:" names, outermost first
    children: dict[int, int] = {}  # results seen at an indent since its parent's last result
    diagnostics: list[str] = []  # top-level comments (test files' own output) since a result
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if m := _SUBTEST.match(line):
            depth = len(m.group("indent"))
            names = [(d, n) for d, n in names if d < depth] + [(depth, m.group("name"))]
            continue
        m = _RESULT.match(line)
        if m is None:
            if line.startswith("# "):
                diagnostics.append(line[2:])
            continue
        depth = len(m.group("indent"))
        yaml, i = _yaml_block(lines, i, depth + 2)
        has_children = children.get(depth + 4, 0) > 0
        children[depth + 4] = 0
        children[depth] = children.get(depth, 0) + 1
        name = m.group("name").replace("\\#", "#")
        path = [n for d, n in names if d < depth] + [name]
        names = [(d, n) for d, n in names if d < depth]
        directive, ok = m.group("directive"), m.group("ok") == "ok"
        if has_children or yaml.get("type") == "suite" or directive == "TODO":
            continue
        if name in test_files:  # the file itself: it has no tests, or it failed outside them
            output, diagnostics = diagnostics, []
            if ok:
                continue
            signal = yaml.get("signal", "")
            if signal in _SIGNALS:
                out.limit_hit = _SIGNALS[signal]
            elif any("heap out of memory" in d or "Cannot allocate memory" in d for d in output):
                out.limit_hit = "memory"
            error = next((d.strip() for d in output if _ERROR.match(d.strip())), "")
            message = error or (
                f"killed by {signal}"
                if signal not in ("", "~")
                else yaml.get("error", "test file failed")
            )
            out.total += 1
            out.findings.append(_test_finding(yaml, f"{_rel(name)}: {message}", name))
            continue
        out.total += 1
        if ok:
            out.passed += directive != "SKIP"
            continue
        out.findings.append(
            _test_finding(yaml, f"{' > '.join(path)}: {yaml.get('error') or 'failed'}", None)
        )
    return out


def _test_finding(yaml: dict[str, str], message: str, file: str | None) -> Finding:
    line = None
    if m := _LOCATION.match(yaml.get("location", "")):
        file, line = m.group("file"), int(m.group("line"))
    return Finding(
        file=_rel(file) if file else None, line=line, rule="tests.failed", message=message[:300]
    )


def _yaml_block(lines: list[str], i: int, indent: int) -> tuple[dict[str, str], int]:
    """The `---` … `...` block after a TAP result, as top-level keys to one-line strings."""
    pad = " " * indent
    if i >= len(lines) or lines[i] != pad + "---":
        return {}, i
    values: dict[str, str] = {}
    key = ""
    block: list[str] = []
    i += 1
    while i < len(lines) and lines[i] != pad + "...":
        line = lines[i]
        i += 1
        body = line[indent:] if line.startswith(pad) else line.strip()
        if not body.startswith(" ") and ":" in body:
            if key and block:
                values[key] = " ".join(block)
            key, _, value = body.partition(":")
            value = value.strip()
            block = []
            if value in ("|-", "|", ">-", ">"):
                continue
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1].replace("''", "'")
            values[key] = value
            key = ""
        elif key and body.strip():
            block.append(body.strip())
    if key and block:
        values[key] = " ".join(block)
    return values, i + 1


def _is_js(name: str) -> bool:
    return name.endswith(EXTENSIONS) and "node_modules" not in PurePosixPath(name).parts


def _rel(path: str) -> str:
    return path.removeprefix("file://").removeprefix("/work/").removeprefix("./")


STAGES = [
    Stage("syntax", syntax, weight=0.0, blocking=True, gate=True, applies=is_javascript),
    Stage("lint", lint, weight=0.1, applies=is_javascript),
    Stage("tests", tests, weight=0.6, blocking=True),
]

LANGUAGE = Language(
    name="javascript",
    extensions=EXTENSIONS,
    stages=tuple(STAGES),
    is_test_file=is_test_file,
    block_extension="js",
    tokens=javascript_tokens,
)
