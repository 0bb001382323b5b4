"""`validate.code`: run the validation mesh over files produced by earlier steps.

Before the tests (the expensive stage) run, the quality prediction estimates from the cheap
stages' findings, the model group's history and what memory recalled (`memory`, the result of
`memory.recall`, optional) how likely the code is to pass; the estimate, its features and the
model that made it ("hand-set" or the fitted one, engine/decisions/quality_fit.py) are stored
with the step and, with the outcome, in the learning store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from adapters.learning import CandidateOutcome, LearningUnavailable
from adapters.sandbox import SandboxUnavailable, bad_file_name
from engine.decisions.quality import Signals, signals_from_report
from engine.decisions.quality_features import features_of
from engine.decisions.quality_fit import current
from engine.errors import OperatorError, RetryableOperatorError
from engine.ops import OPERATORS
from engine.ops.files import artifact_ids, files_of
from engine.ops.missing_tests import has_code
from engine.policies.router import record_outcome
from engine.steps.contract import StepContext
from engine.telemetry import tracer
from validation.mesh import ValidationMesh
from validation.report import Finding, StageResult, ValidationReport


class ValidateInput(BaseModel):
    """The results whose files are validated together."""

    files: list[Any] = Field(min_length=1)
    memory: dict[str, Any] | None = None  # memory.recall's result (None: nothing recalled)


async def history(ctx: StepContext, model_group: str) -> tuple[int, int]:
    """(passed, total) of this model group's earlier candidates for this kind of task."""
    if not model_group:
        return (0, 0)
    try:
        stats: tuple[int, int] = await ctx.services.learning.outcomes.candidate_stats(
            model_group, ctx.task_type, ctx.request.language
        )
        return stats
    except LearningUnavailable:
        return (0, 0)  # no history: the prediction falls back to its base rate


async def record_candidate(
    ctx: StepContext,
    model_group: str,
    predicted: float | None,
    report: ValidationReport,
    *,
    agreement: float = 1.0,
    features: Mapping[str, float] | None = None,
) -> None:
    """Keep a candidate's outcome and the prediction's features when its tests ran (the label
    the prediction learns from)."""
    if not model_group or not tests_ran(report):
        return
    await ctx.services.learning.outcomes.record_candidate(
        CandidateOutcome(
            run_id=str(ctx.run_id),
            task_id=str(ctx.task_id),
            model_group=model_group,
            task_type=ctx.task_type,
            language=ctx.request.language,
            predicted=predicted,
            passed=tests_passed(report),
            agreement=agreement,
            features=dict(features or {}),
        )
    )


async def record_routes(ctx: StepContext, items: list[Any], passed: bool) -> None:
    """The router learns from each validated result a routed step produced: its tests
    passed or not (a gate failure or missing tests count as not)."""
    policies = ctx.services.policies
    if policies is None:
        return
    for item in items:
        routed = item.get("route") if isinstance(item, dict) else None
        if isinstance(routed, dict) and routed.get("group"):
            tokens = int(item.get("tokens_in") or 0) + int(item.get("tokens_out") or 0)
            await record_outcome(
                policies,
                ctx,
                routed,
                success=passed,
                duration_ms=float(routed.get("model_ms") or 0.0),
                tokens=tokens,
            )


def tests_ran(report: ValidationReport) -> bool:
    """The tests stage ran some tests (not skipped, not 'there are no tests')."""
    return any(
        s.name == "tests"
        and s.status != "skipped"
        and not any(f.rule == "tests.missing" for f in s.findings)
        for s in report.stages
    )


def tests_passed(report: ValidationReport) -> bool:
    """The tests ran, found at least one test, and all passed."""
    return (
        tests_ran(report) and report.tests_total > 0 and report.tests_passed == report.tests_total
    )


async def run_mesh(
    ctx: StepContext,
    files: dict[str, str],
    *,
    only: set[str] | None = None,
    before_tests: Callable[[list[StageResult]], Awaitable[bool]] | None = None,
) -> ValidationReport:
    """The mesh over `files` plus the request's acceptance checks, with errors mapped to
    operator errors (bad files, no sandbox: final; a crashed sandbox: retryable)."""
    mesh: ValidationMesh = ctx.services.validation
    language = ctx.request.language
    checks = ctx.request.checks
    if checks:  # a generated conftest.py could rewrite the acceptance tests' outcome
        files = {p: c for p, c in files.items() if p.rsplit("/", 1)[-1] != "conftest.py"}
    with tracer.start_as_current_span(
        f"validate {language}", attributes={"weavergen.language": language}
    ) as span:
        # a file name the model made up that cannot be written is a finding to fix, not a crash
        bad = {p: why for p in files if (why := bad_file_name(p)) is not None}
        files = {p: c for p, c in files.items() if p not in bad}
        if not bad and not has_code(files, language):  # nothing a model answered was code
            return no_code_report(language, files)
        try:
            report = await mesh.validate(
                language, {**files, **checks}, only=only, before_tests=before_tests
            )
            if bad:
                report = report.with_bad_names(bad)
        except ValueError as exc:  # file names that clash (a file and a dir of one name)
            raise OperatorError(f"step {ctx.element_id}: {exc}", code="bad_files") from None
        except SandboxUnavailable as exc:
            raise OperatorError(
                f"step {ctx.element_id}: {exc}", code="sandbox_unavailable"
            ) from None
        except OSError as exc:  # the sandbox itself crashed: another attempt may work
            raise RetryableOperatorError(
                f"step {ctx.element_id}: sandbox failed: {exc}", code="sandbox_crashed"
            ) from exc
        span.set_attributes(
            {
                "weavergen.outcome": "passed" if report.passed else "failed",
                "weavergen.score": report.score,
                "weavergen.duration_ms": report.duration_ms,
                "weavergen.tests_passed": report.tests_passed,
                "weavergen.tests_total": report.tests_total,
            }
        )
    return report


def no_code_report(language: str, files: Mapping[str, str]) -> ValidationReport:
    """The report for an answer with no code in it: one failed `answer` stage whose finding
    tells the improve step what to send, instead of stages that had nothing to check."""
    what = f" (only {', '.join(sorted(files))})" if files else ""
    finding = Finding(
        rule="answer.no_code",
        message=f"the answer held no {language} code that could be extracted{what}: send "
        "each file in its own fenced code block, the file name in a comment on its first line",
    )
    stage = StageResult(name="answer", status="failed", findings=[finding])
    return ValidationReport(language=language, passed=False, score=0.0, stages=[stage])


async def summarize(
    ctx: StepContext, report: ValidationReport, name: str | None = None
) -> dict[str, Any]:
    """Store the full report as an artifact; the small summary goes into task data."""
    report_id = await ctx.store.put_artifact(
        name or f"reports/{ctx.element_id}-{ctx.visit}.json",
        report.model_dump_json(indent=2),
        "report",
    )
    findings = [f.model_dump(exclude_none=True) for f in report.findings()][:20]
    return {
        "passed": report.passed,
        "score": report.score,
        "findings": findings,
        "report": report_id,
        "stages": {s.name: s.status for s in report.stages},
        "limit_hits": report.limit_hits(),
        "tests_passed": report.tests_passed,
        "tests_total": report.tests_total,
    }


def _reusable(items: list[Any]) -> dict[str, Any] | None:
    """A consensus result carries the validation of exactly these files: use it."""
    if len(items) != 1 or not isinstance(items[0], dict):
        return None
    done = items[0].get("validation")
    if isinstance(done, dict) and done.get("files") == artifact_ids(items[0]):
        return done
    return None


def gate_failed_signals(known: tuple[int, int]) -> Signals:
    """Signals of code that does not parse or build (no later stage ran)."""
    return Signals(
        gate_failed=True,
        lint_errors=0,
        type_errors=0,
        security_errors=0,
        agreement=1.0,
        candidates=1,
        history_passed=known[0],
        history_total=known[1],
    )


@OPERATORS.register("validate.code", ValidateInput)
async def validate_code(inputs: ValidateInput, ctx: StepContext) -> dict[str, Any]:
    """Validate the files in the sandbox; the full report is stored as an artifact."""
    done = _reusable(inputs.files)
    if done is not None:
        return {**done["summary"], "reused_from": done["step"]}
    files = await files_of(inputs.files, ctx)
    group = next(
        (
            str(i["model_group"])
            for i in inputs.files
            if isinstance(i, dict) and i.get("model_group")
        ),
        "",
    )
    known = await history(ctx, group)
    prediction: dict[str, Any] = {}
    quality = current().snapshot()

    def estimate(signals: Signals) -> None:
        features = features_of(signals, inputs.memory, files)
        p, terms = quality.predict(features)
        prediction.update(
            predicted=p,
            terms=terms,
            history=list(known),
            model=quality.describe(),
            features=features,
        )

    async def predict_first(cheap: list[StageResult]) -> bool:
        partial = ValidationReport(
            language=ctx.request.language, passed=False, score=0.0, stages=cheap
        )
        estimate(signals_from_report(partial, history=known))
        return True  # one candidate: its tests always run; the estimate is recorded

    report = await run_mesh(ctx, files, before_tests=predict_first)
    validated = artifact_ids(inputs.files)
    if not prediction:  # a gate failed before the tests: the estimate from that
        estimate(gate_failed_signals(known))
    await record_candidate(
        ctx, group, prediction["predicted"], report, features=prediction["features"]
    )
    await record_routes(ctx, inputs.files, tests_passed(report))
    return {**await summarize(ctx, report), "prediction": prediction, "files": validated}
