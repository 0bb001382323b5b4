"""`validate.code`: run the validation mesh over files produced by earlier steps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from adapters.sandbox import SandboxUnavailable
from engine.errors import OperatorError, RetryableOperatorError
from engine.operators import StepContext
from engine.ops import OPERATORS
from engine.ops.files import files_of
from engine.telemetry import tracer
from validation.mesh import ValidationMesh


class ValidateInput(BaseModel):
    """The results whose files are validated together."""

    files: list[Any] = Field(min_length=1)


@OPERATORS.register("validate.code", ValidateInput)
async def validate_code(inputs: ValidateInput, ctx: StepContext) -> dict[str, Any]:
    """Validate the files in the sandbox; the full report is stored as an artifact."""
    files = await files_of(inputs.files, ctx)
    mesh: ValidationMesh = ctx.services["validation"]
    language = ctx.request["language"]
    with tracer.start_as_current_span(
        f"validate {language}", attributes={"weavergen.language": language}
    ) as span:
        try:
            report = await mesh.validate(language, files)
        except ValueError as exc:  # a file name that would leave the work dir
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
        "limit_hits": report.limit_hits(),
        "tests_passed": report.tests_passed,
        "tests_total": report.tests_total,
    }
