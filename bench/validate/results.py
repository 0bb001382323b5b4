"""What the mesh made of each bench item, and the rules that say whether it judged right."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.validate.items import BenchItem, ItemKind
from validation.python import STAGES as PYTHON_STAGES
from validation.report import Finding, StageResult, ValidationReport

FAILED_TESTS = ("failed", "limit")
GATES = frozenset(s.name for s in PYTHON_STAGES if s.gate)
BLOCKING = frozenset(s.name for s in PYTHON_STAGES if s.blocking)
STAGE_ORDER = [s.name for s in PYTHON_STAGES]


@dataclass
class ItemResult:
    """The mesh's report on one item (or the error that stopped the validation)."""

    item: BenchItem
    report: ValidationReport | None
    error: str | None = None
    wall_ms: float = 0.0

    def stage(self, name: str) -> StageResult | None:
        if self.report is None:
            return None
        return next((s for s in self.report.stages if s.name == name), None)

    @property
    def tests_status(self) -> str:
        """The tests stage's status ('error' when the validation itself raised)."""
        if self.report is None:
            return "error"
        stage = self.stage("tests")
        return stage.status if stage else "missing"

    @property
    def gate_failed(self) -> bool:
        return self.report is not None and any(
            s.name in GATES and s.status in FAILED_TESTS for s in self.report.stages
        )

    @property
    def tests_passed(self) -> bool:
        """Reference rule: only the tests stage counts."""
        return self.tests_status == "passed"

    @property
    def caught(self) -> bool:
        """Broken-variant rule: tests failed or hit a limit, or a gate stage failed."""
        if self.report is None:
            return False  # the mesh did not judge it; never count that as a catch
        return self.tests_status in FAILED_TESTS or self.gate_failed

    @property
    def correct(self) -> bool:
        """Whether the mesh judged this item as it should."""
        return self.tests_passed if self.item.kind == "reference" else self.caught

    def first_finding(self) -> str:
        """The first finding of the tests stage (else of the report), for the failure list."""
        if self.report is None:
            return f"validation error: {self.error}"
        tests = self.stage("tests")
        findings: list[Finding] = (tests.findings if tests else []) or self.report.findings()
        if findings:
            f = findings[0]
            where = f"{f.file}:{f.line}: " if f.file and f.line else ""
            return f"{where}{f.rule}: {' '.join(f.message.split())[:200]}"
        return f"tests stage {self.tests_status}" + (
            f" ({tests.detail[:120]})" if tests and tests.detail else ""
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.item.problem.task_id,
            "kind": self.item.kind,
            "mutation": self.item.mutation,
            "correct": self.correct,
            "tests_status": self.tests_status,
            "gate_failed": self.gate_failed,
            "wall_ms": round(self.wall_ms, 1),
            "error": self.error,
            "report": self.report.model_dump(mode="json") if self.report else None,
        }


@dataclass
class BenchResult:
    """Everything one bench run measured."""

    problems: int
    concurrency: int
    wall_s: float
    cpu_s: float = 0.0  # the machine's busy CPU time during the bench (tools, sandbox, us)
    items: list[ItemResult] = field(default_factory=list)

    def of(self, kind: ItemKind) -> list[ItemResult]:
        return [r for r in self.items if r.item.kind == kind]

    @property
    def references_passed(self) -> int:
        return sum(r.tests_passed for r in self.of("reference"))

    @property
    def broken_total(self) -> int:
        return len(self.of("broken"))

    @property
    def broken_caught(self) -> int:
        return sum(r.caught for r in self.of("broken"))

    @property
    def ok(self) -> bool:
        return (
            self.references_passed == self.problems == len(self.of("reference"))
            and self.broken_caught == self.broken_total
        )

    def summary_line(self) -> str:
        return (
            f"references passed {self.references_passed}/{self.problems}, "
            f"broken variants caught {self.broken_caught}/{self.broken_total}, "
            f"{self.wall_s:.1f} s"
        )

    def stage_stats(self) -> dict[str, dict[str, float]]:
        """Per stage: runs, mean and total duration (ms) over the items where it ran."""
        durations: dict[str, list[float]] = {}
        for r in self.items:
            for s in r.report.stages if r.report else []:
                if s.status != "skipped":
                    durations.setdefault(s.name, []).append(s.duration_ms)
        order = STAGE_ORDER + sorted(set(durations) - set(STAGE_ORDER))
        return {
            name: {"runs": len(d), "mean_ms": sum(d) / len(d), "total_ms": sum(d)}
            for name in order
            if (d := durations.get(name))
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": "humaneval",
            "problems": self.problems,
            "concurrency": self.concurrency,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 2),
            "references_passed": self.references_passed,
            "broken_total": self.broken_total,
            "broken_caught": self.broken_caught,
            "ok": self.ok,
            "stages": self.stage_stats(),
            "items": [r.to_json() for r in self.items],
        }
