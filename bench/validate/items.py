"""What the validation bench validates: each problem's reference and its broken variants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bench.humaneval import humaneval_test_file
from standin.humaneval_mutations import broken_mutations
from standin.humaneval_problems import Problem

ItemKind = Literal["reference", "broken"]


@dataclass(frozen=True)
class BenchItem:
    """One validation: a problem's reference (mutation None) or one broken variant."""

    problem: Problem
    kind: ItemKind
    code: str
    mutation: str | None = None

    @property
    def label(self) -> str:
        return self.problem.task_id + (f" [{self.mutation}]" if self.mutation else "")

    def files(self) -> dict[str, str]:
        return {"solution.py": self.code, "test_solution.py": humaneval_test_file(self.problem)}


def bench_items(problems: Sequence[Problem], variants_per_problem: int | None) -> list[BenchItem]:
    """The reference and the broken variants (up to `variants_per_problem`) of each problem."""
    items: list[BenchItem] = []
    for problem in problems:
        items.append(BenchItem(problem, "reference", problem.prompt + problem.canonical_solution))
        mutations = broken_mutations(problem.task_id)
        if variants_per_problem is not None:
            mutations = mutations[:variants_per_problem]
        items.extend(BenchItem(problem, "broken", m.code, m.name) for m in mutations)
    return items
