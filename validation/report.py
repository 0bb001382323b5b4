"""The validation report: per-stage status, findings, timings and a score in [0, 1].

Score: 0 when a gate stage (syntax, build) fails. Otherwise the weighted mean, over the
stages that ran, of each stage's own score: for tests the fraction of tests that passed
(0 when there are none or a sandbox limit was hit); for other stages 1 when they passed,
else 1 - 0.2 per error finding (floored at 0). Weights: tests 0.6, types 0.15, lint 0.1,
security 0.1, vet 0.1, format 0.05. Stages that do not apply are `skipped` and carry no weight.
`passed` means every blocking stage (syntax, build, security errors, tests) passed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

StageStatus = Literal["passed", "failed", "skipped", "limit"]


class Finding(BaseModel):
    """One problem in generated code."""

    file: str | None = None
    line: int | None = None
    rule: str
    message: str
    severity: Literal["error", "warning"] = "error"


class StageResult(BaseModel):
    """What one stage found; `limit` means the sandbox stopped it (see limit_hit)."""

    name: str
    status: StageStatus
    findings: list[Finding] = Field(default_factory=list)
    duration_ms: float = 0.0
    detail: str = ""  # e.g. the tail of the test output, or why it was skipped
    limit_hit: str | None = None
    tests_passed: int = 0
    tests_total: int = 0


class ValidationReport(BaseModel):
    """The result of validating a set of files; see the module docstring for the score."""

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

    def limit_hits(self) -> list[str]:
        """Stages a sandbox limit stopped, with the limit."""
        return [f"{s.name}: {s.limit_hit}" for s in self.stages if s.limit_hit]

    def with_bad_names(self, bad: dict[str, str]) -> ValidationReport:
        """This report with a failed `files` stage first: one finding per file name that could
        not be written (`bad`: name -> why), each costing 0.2 of the score."""
        stage = StageResult(
            name="files",
            status="failed",
            findings=[
                Finding(file=name[:200], rule="files.bad_name", message=why)
                for name, why in bad.items()
            ],
        )
        return self.model_copy(
            update={
                "passed": False,
                "score": max(0.0, self.score - 0.2 * len(bad)),
                "stages": [stage, *self.stages],
            }
        )
