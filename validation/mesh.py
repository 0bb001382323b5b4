"""The validation mesh: run a language's stages in order over generated files, in the sandbox."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from adapters.sandbox import Limits, Sandbox
from validation import languages as registry
from validation.report import Finding, StageResult, ValidationReport
from validation.stages import TESTS, Stage, StageContext
from validation.tool_paths import Toolchain

__all__ = ["LANGUAGES", "TESTS", "ValidationMesh", "is_test_file"]
log = logging.getLogger(__name__)

# each language's stages, in order (the view of `validation.languages` the mesh runs)
LANGUAGES: dict[str, Sequence[Stage]] = {
    name: lang.stages for name, lang in registry.LANGUAGES.items()
}


def is_test_file(language: str, path: str) -> bool:
    """Whether `path` holds tests for `language` (the tests stage runs it)."""
    lang = registry.language(language)
    return lang is not None and lang.is_test_file(path)


class ValidationMesh:
    """Validates files for a language: cheap stages first, gates stop the rest."""

    def __init__(
        self,
        sandbox: Sandbox,
        toolchain: Toolchain,
        *,
        limits: Limits | None = None,
        languages: Mapping[str, Sequence[Stage]] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.toolchain = toolchain
        self.limits = limits or Limits()
        self.languages = languages or LANGUAGES

    async def warm(self) -> None:
        """Start the sandbox's fork servers for every language's Python tools now, so that
        the first validation does not wait for them."""
        if not self.sandbox.forks():
            return
        for lang in registry.LANGUAGES.values():
            for module, preload in lang.python_tools:
                try:
                    zygote = await self.sandbox.zygote(self.toolchain.python, module, preload)
                    await zygote.start()
                except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                    log.warning("fork server for %s not started (%s)", module, exc)

    def cheap_stages(self, language: str) -> set[str]:
        """The stages that run before the tests (syntax, lint, types, security, build...)."""
        return {s.name for s in self.languages.get(language, []) if s.name != TESTS}

    def merge(self, language: str, reports: list[ValidationReport]) -> ValidationReport:
        """One report from partial runs (e.g. cheap stages, then tests): per stage, the first
        result that was not skipped."""
        stages = self.languages[language]
        results = []
        for i in range(len(stages)):
            ran = [r.stages[i] for r in reports if r.stages[i].status != "skipped"]
            results.append(ran[0] if ran else reports[-1].stages[i])
        duration = sum(r.duration_ms for r in reports)
        return _report(language, stages, results, duration)

    async def _run(
        self,
        stage: Stage,
        ctx: StageContext,
        only: set[str] | None,
        before: list[StageResult],
        before_tests: Callable[[list[StageResult]], Awaitable[bool]] | None,
    ) -> StageResult:
        """One stage's result, or why it was skipped."""
        if only is not None and stage.name not in only:
            return StageResult(name=stage.name, status="skipped", detail="not selected")
        if not stage.applies(ctx.files):
            detail = "does not apply to these files"
            return StageResult(name=stage.name, status="skipped", detail=detail)
        if stage.name == TESTS and before_tests is not None and not await before_tests(before):
            detail = "skipped on the quality prediction"
            return StageResult(name=stage.name, status="skipped", detail=detail)
        return await stage.run(ctx)

    async def validate(
        self,
        language: str,
        files: dict[str, str],
        *,
        only: set[str] | None = None,
        before_tests: Callable[[list[StageResult]], Awaitable[bool]] | None = None,
    ) -> ValidationReport:
        """Validate `files`; `only` limits the run to the named stages (others skipped);
        `before_tests` sees the cheap stages' results and may skip the tests (False)."""
        start = time.perf_counter()
        stages = self.languages.get(language)
        if stages is None:
            unsupported = StageResult(
                name="language",
                status="failed",
                findings=[
                    Finding(
                        rule="language.unsupported",
                        message=f"no validation for {language}; "
                        f"supported: {', '.join(self.languages)}",
                    )
                ],
            )
            return ValidationReport(
                language=language, passed=False, score=0.0, stages=[unsupported]
            )
        results: list[StageResult] = []
        stopped_by: str | None = None
        async with self.sandbox.session(disk_mb=self.limits.disk_mb) as session:
            session.write(files)
            ctx = StageContext(
                files=files,
                session=session,
                toolchain=self.toolchain,
                limits=self.limits,
                language=language,
            )
            for batch in _batches(stages):
                if stopped_by is not None:
                    detail = f"{stopped_by} failed first"
                    results += [
                        StageResult(name=s.name, status="skipped", detail=detail) for s in batch
                    ]
                    continue
                ran = await asyncio.gather(
                    *(self._run(s, ctx, only, results, before_tests) for s in batch)
                )
                results += ran
                # a gate that ran and did not pass stops the rest (one that was skipped does not)
                failed = [
                    s.name
                    for s, r in zip(batch, ran, strict=True)
                    if s.gate and r.status not in ("passed", "skipped")
                ]
                stopped_by = failed[0] if failed else None
        return _report(language, stages, results, (time.perf_counter() - start) * 1000)


def _batches(stages: Sequence[Stage]) -> list[list[Stage]]:
    """The stages in order; neighbouring stages marked `concurrent` in one batch (they run
    side by side), every other stage in a batch of its own."""
    batches: list[list[Stage]] = []
    for stage in stages:
        if stage.concurrent and batches and batches[-1][-1].concurrent:
            batches[-1].append(stage)
        else:
            batches.append([stage])
    return batches


def _report(
    language: str, stages: Sequence[Stage], results: list[StageResult], duration_ms: float
) -> ValidationReport:
    by_name = {s.name: s for s in stages}
    gate_failed = any(
        by_name[r.name].gate and r.status not in ("passed", "skipped") for r in results
    )
    weighted = total = 0.0
    for r in results:
        if r.status == "skipped":
            continue
        stage = by_name[r.name]
        total += stage.weight
        weighted += stage.weight * _stage_score(r)
    score = 0.0 if gate_failed or total == 0 else weighted / total
    tests = [r for r in results if r.tests_total or r.name == TESTS]
    ran_tests = any(r.status != "skipped" for r in tests)
    passed = (
        not gate_failed
        and ran_tests
        and all(r.status in ("passed", "skipped") for r in results if by_name[r.name].blocking)
    )
    return ValidationReport(
        language=language,
        passed=passed,
        score=round(score, 4),
        stages=results,
        tests_passed=sum(r.tests_passed for r in results),
        tests_total=sum(r.tests_total for r in results),
        duration_ms=duration_ms,
    )


def _stage_score(r: StageResult) -> float:
    if r.status == "limit":
        return 0.0
    if r.tests_total or r.name == TESTS:
        return r.tests_passed / r.tests_total if r.tests_total else 0.0
    if r.status == "passed":
        return 1.0
    errors = sum(1 for f in r.findings if f.severity == "error")
    return max(0.0, 1.0 - 0.2 * errors)
