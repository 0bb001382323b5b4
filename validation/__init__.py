"""Checks on generated code, per language."""

from __future__ import annotations

from validation.python import validate_python
from validation.report import Finding, StageResult, ValidationReport

__all__ = ["Finding", "StageResult", "ValidationReport", "validate", "validate_python"]


async def validate(
    language: str, files: dict[str, str], *, timeout: float = 60.0
) -> ValidationReport:
    """Validate generated files for `language`."""
    if language == "python":
        return await validate_python(files, timeout=timeout)
    stage = StageResult(
        name="support",
        status="failed",
        findings=[
            Finding(
                rule="language.unsupported",
                message=f"no validation stages for {language} yet; only python is checked",
            )
        ],
    )
    return ValidationReport(language=language, passed=False, score=0.0, stages=[stage])
