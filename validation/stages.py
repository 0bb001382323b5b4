"""Stages: one check of generated code (syntax, lint, types, security, tests, …).

Extension point: a language is a list of `Stage`s in `validation.mesh.LANGUAGES`. A stage's
`run(ctx)` gets the files and a sandbox session holding them, and returns a StageResult;
`applies(files)` says whether it has anything to check. Mark a stage `gate=True` when its
failure makes the later stages pointless (syntax, build) and `blocking=True` when its
failure means the code did not pass.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from adapters.sandbox import Limits, SandboxResult, SandboxSession
from validation.report import Finding, StageResult
from validation.toolchain import Toolchain


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
    applies: Callable[[Mapping[str, str]], bool] = field(default=always)


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
