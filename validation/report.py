"""The validation report: per-stage status, findings, timings and a score in [0, 1]."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

StageStatus = Literal["passed", "failed", "skipped", "error"]


class Finding(BaseModel):
    """One problem in generated code."""

    file: str | None = None
    line: int | None = None
    rule: str
    message: str
    severity: Literal["error", "warning"] = "error"


class StageResult(BaseModel):
    """What one stage (syntax, tests, …) found."""

    name: str
    status: StageStatus
    findings: list[Finding] = Field(default_factory=list)
    duration_ms: float = 0.0
    detail: str = ""  # e.g. the tail of the test output


class ValidationReport(BaseModel):
    """The result of validating a set of files.

    Score: 0 when the code does not parse; otherwise 0.3 for parsing plus 0.7 times the
    fraction of tests that passed (no tests found counts as none passed).
    """

    language: str
    passed: bool
    score: float = Field(ge=0.0, le=1.0)
    stages: list[StageResult]
    tests_passed: int = 0
    tests_total: int = 0
    duration_ms: float = 0.0

    def findings(self) -> list[Finding]:
        """All findings, stage by stage."""
        return [f for s in self.stages for f in s.findings]
