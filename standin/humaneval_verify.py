"""Verification of the HumanEval replay: references pass, broken variants fail.

Backs ``python -m standin.humaneval --verify`` and ``--survivors``; the survivor table it
prints is kept in ``standin/humaneval_survivors.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from standin.humaneval_mutations import FALLBACK_MUTATION, all_mutations, broken_variants
from standin.humaneval_problems import (
    CheckResult,
    check_solution,
    load_problems,
    reference_solution,
)
from standin.humaneval_survivors import SURVIVING_MUTATIONS


class MutationReport(BaseModel):
    """Check outcome of one mutation of one problem."""

    task_id: str
    name: str
    result: CheckResult


def check_all(task_ids: list[str], workers: int) -> tuple[list[str], list[MutationReport]]:
    """Check references and every mutation; return failing references and mutation reports."""
    jobs: list[tuple[str, str | None, str]] = []
    for task_id in task_ids:
        jobs.append((task_id, None, reference_solution(task_id)))
        jobs.extend((task_id, m.name, m.code) for m in all_mutations(task_id))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda job: check_solution(job[0], job[2]), jobs))
    bad_refs: list[str] = []
    reports: list[MutationReport] = []
    for (task_id, name, _), result in zip(jobs, results, strict=True):
        if name is None:
            if not result.passed:
                bad_refs.append(f"{task_id}: reference fails: {result.detail}")
        else:
            reports.append(MutationReport(task_id=task_id, name=name, result=result))
    return bad_refs, reports


def survivors_table(reports: list[MutationReport]) -> dict[str, tuple[str, ...]]:
    """Return, per task, the mutations that pass the tests or hang (unusable as broken)."""
    table: dict[str, list[str]] = {}
    for report in reports:
        if report.result.passed or report.result.timed_out:
            table.setdefault(report.task_id, []).append(report.name)
    return {k: tuple(v) for k, v in sorted(table.items(), key=lambda kv: task_number(kv[0]))}


def task_number(task_id: str) -> int:
    return int(task_id.rsplit("/", 1)[-1])


def verify(task_ids: list[str] | None = None, workers: int = 4) -> list[str]:
    """Check references pass and broken variants fail; return a list of problems found."""
    ids = task_ids or sorted(load_problems(), key=task_number)
    bad_refs, reports = check_all(ids, workers)
    problems = list(bad_refs)
    unusable = survivors_table(reports)
    for task_id in ids:
        expected = set(SURVIVING_MUTATIONS.get(task_id, ()))
        actual = set(unusable.get(task_id, ()))
        if expected != actual:
            problems.append(
                f"{task_id}: survivor table says {sorted(expected)}, checks say {sorted(actual)}"
            )
        if not broken_variants(task_id):
            problems.append(f"{task_id}: no broken variant")
    for report in reports:
        if report.name == FALLBACK_MUTATION and not (
            not report.result.passed and not report.result.timed_out
        ):
            problems.append(f"{report.task_id}: fallback mutation does not fail")
    return problems
