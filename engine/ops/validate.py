"""`validate.code`: run the validation stages over files produced by earlier steps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.errors import OperatorError
from engine.operators import StepContext
from engine.ops import OPERATORS
from engine.ops.files import files_of
from engine.telemetry import tracer
from validation import validate
from validation.python import safe_relative_path


class ValidateInput(BaseModel):
    """The results whose files are validated together."""

    files: list[Any] = Field(min_length=1)


@OPERATORS.register("validate.code", ValidateInput)
async def validate_code(inputs: ValidateInput, ctx: StepContext) -> dict[str, Any]:
    """Validate the files; the full report is stored as an artifact."""
    files = await files_of(inputs.files, ctx)
    for name in files:
        try:
            safe_relative_path(name)
        except ValueError as exc:
            raise OperatorError(f"step {ctx.element_id}: {exc}", code="bad_files") from None
    timeout = float(ctx.services.get("validation_timeout", 60.0))
    language = ctx.request["language"]
    with tracer.start_as_current_span(
        f"validate {language}", attributes={"weavergen.language": language}
    ) as span:
        report = await validate(language, files, timeout=timeout)
        span.set_attributes(
            {
                "weavergen.outcome": "passed" if report.passed else "failed",
                "weavergen.score": report.score,
                "weavergen.duration_ms": report.duration_ms,
                "weavergen.tests_passed": report.tests_passed,
                "weavergen.tests_total": report.tests_total,
            }
        )
    report_id = await ctx.store.put_artifact(
        f"reports/{ctx.element_id}-{ctx.visit}.json", report.model_dump_json(indent=2), "report"
    )
    findings = [f.model_dump(exclude_none=True) for f in report.findings()][:20]
    return {
        "passed": report.passed,
        "score": report.score,
        "findings": findings,
        "report": report_id,
        "stages": {s.name: s.status for s in report.stages},
        "tests_passed": report.tests_passed,
        "tests_total": report.tests_total,
    }
