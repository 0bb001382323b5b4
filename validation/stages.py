"""Stages: one check of generated code (syntax, lint, types, security, tests, …), and the
`Language` that lists them.

Extension point: a language is one `Language` (below) holding its `Stage`s. A stage's
`run(ctx)` gets the files and a sandbox session holding them, and returns a StageResult;
`applies(files)` says whether it has anything to check. Mark a stage `gate=True` when its
failure makes the later stages pointless (syntax, build) and `blocking=True` when its
failure means the code did not pass, and `concurrent=True` when it shares nothing with its
neighbours (its tool writes nothing the next one reads): such neighbours run side by side.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from adapters.sandbox import Limits, SandboxResult, SandboxSession
from validation.report import Finding, StageResult
from validation.tool_paths import Toolchain

TESTS = "tests"  # the stage that runs the generated tests: the expensive one, always last


@dataclass
class StageContext:
    """What a stage works on."""

    files: dict[str, str]
    session: SandboxSession
    toolchain: Toolchain
    limits: Limits
    language: str


StageFn = Callable[[StageContext], Awaitable[StageResult]]


def always(files: Mapping[str, str]) -> bool:
    return True


@dataclass(frozen=True)
class Stage:
    """A named check with its weight in the score."""

    name: str
    run: StageFn
    weight: float
    blocking: bool = False
    gate: bool = False
    concurrent: bool = False  # may run beside its concurrent neighbours (shares nothing)
    applies: Callable[[Mapping[str, str]], bool] = field(default=always)


@dataclass(frozen=True)
class Language:
    """Everything the project knows about one language of generated code, in one place.

    Extension point: to add a language, write `validation/<language>.py` with its stages and
    one `LANGUAGE = Language(...)`, and list it in `validation.languages.LANGUAGES`. The mesh
    runs its `stages` in order (the first gate stage is what `engine.decisions.quality`
    watches), the consensus compares its code files by `tokens`, a model's unnamed code block
    is saved as `solution.<block_extension>`, and runs and the run form accept its `name`.
    """

    name: str
    extensions: tuple[str, ...]  # of its source files, tests included
    stages: tuple[Stage, ...]
    is_test_file: Callable[[str], bool]  # the tests stage runs these
    block_extension: str
    tokens: Callable[[str], list[str]]  # one file's tokens for consensus (validation.tokens)
    test_support: frozenset[str] = frozenset()  # file names that serve the tests (conftest.py)
    # (module, modules it imports first) of each tool run as `python -I -m module`: what the
    # sandbox's fork servers start with (ValidationMesh.warm)
    python_tools: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def gate_stage(self) -> str:
        """The first stage whose failure stops the others (syntax, build)."""
        return next(s.name for s in self.stages if s.gate)

    def is_code_file(self, path: str) -> bool:
        """A file of the solution: in this language, neither a test nor serving the tests."""
        return (
            path.endswith(self.extensions)
            and not self.is_test_file(path)
            and PurePosixPath(path).name not in self.test_support
        )


class Timer:
    """Milliseconds since creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000


async def sandboxed(
    ctx: StageContext,
    argv: Sequence[str],
    *,
    limits: Limits | None = None,
    env: Mapping[str, str] | None = None,
) -> SandboxResult:
    """Run a tool over the work dir in the sandbox."""
    return await ctx.session.run(argv, limits=limits or ctx.limits, env=env)


async def sandboxed_module(
    ctx: StageContext,
    module: str,
    args: Sequence[str],
    *,
    preload: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> SandboxResult:
    """Run `python -I -m module args…` with the toolchain's Python over the work dir in the
    sandbox (forked from a fork server that imported `preload` once, where there is one)."""
    return await ctx.session.run_module(
        ctx.toolchain.python, module, args, preload=preload, limits=ctx.limits, env=env
    )


def limit_result(name: str, result: SandboxResult, limits: Limits, timer: Timer) -> StageResult:
    """The stage result when the sandbox stopped the command at a limit."""
    message = result.describe_limit(limits)
    return StageResult(
        name=name,
        status="limit",
        limit_hit=result.limit_hit,
        duration_ms=timer.ms(),
        findings=[Finding(rule=f"sandbox.{result.limit_hit}", message=message)],
        detail=(result.stderr or result.stdout)[-2000:],
    )


def tool_error(name: str, result: SandboxResult, timer: Timer) -> StageResult:
    """The stage result when the tool itself failed to run."""
    text = (result.stderr or result.stdout).strip().splitlines()
    return StageResult(
        name=name,
        status="failed",
        duration_ms=timer.ms(),
        detail="\n".join(text[-20:]),
        findings=[
            Finding(
                rule=f"{name}.tool",
                message=text[-1][:300] if text else f"{result.argv[0]} exited {result.exit_code}",
            )
        ],
    )


def result_from(name: str, findings: list[Finding], timer: Timer, detail: str = "") -> StageResult:
    """Passed unless there is an error finding."""
    failed = any(f.severity == "error" for f in findings)
    return StageResult(
        name=name,
        status="failed" if failed else "passed",
        findings=findings,
        duration_ms=timer.ms(),
        detail=detail,
    )


def no_test_files(timer: Timer, message: str) -> StageResult:
    """The tests stage when the answer has no test files; `message` says which names count."""
    return StageResult(
        name=TESTS,
        status="failed",
        duration_ms=timer.ms(),
        findings=[Finding(rule="tests.missing", message=message)],
    )


def last_line(text: str, tool: str) -> str:
    """The last non-blank line of a tool's output (what it died of), at most 300 characters."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else f"{tool} failed before running any test"
