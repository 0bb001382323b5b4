"""HumanEval problems as files the validation mesh runs: the shared input of the validation
bench (`bench.validate`) and the evaluation (`bench.eval`).

A problem becomes ``solution.py`` (the code) and a pytest file that imports the entry point,
plus any helper of the solution the tests call, then the problem's ``check`` and
``def test_humaneval(): check(ENTRY)``.
"""

from __future__ import annotations

import ast
import builtins

from standin.humaneval_problems import Problem, load_problems


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def solution_imports(problem: Problem) -> list[str]:
    """Names the test module imports from solution.py: the entry point and the helpers of the
    reference that the tests call (e.g. `poly` for HumanEval/32, `encode_cyclic` for /38)."""
    solution = _top_level_names(ast.parse(problem.prompt + problem.canonical_solution))
    tree = ast.parse(problem.test)
    loaded: set[str] = set()
    bound: set[str] = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    helpers = sorted((loaded - bound) & solution - {problem.entry_point})
    return [problem.entry_point, *helpers]


def humaneval_test_file(problem: Problem) -> str:
    """The pytest file for a problem: its `check` run on the entry point of solution.py."""
    names = ", ".join(solution_imports(problem))
    return (
        f"from solution import {names}\n\n{problem.test.strip()}\n\n\n"
        f"def test_humaneval():\n    check({problem.entry_point})\n"
    )


def humaneval_problems(limit: int | None = None) -> list[Problem]:
    """The HumanEval problems in task order (HumanEval/0 …), the first `limit` of them."""
    problems = sorted(load_problems().values(), key=lambda p: int(p.task_id.rsplit("/", 1)[1]))
    return problems if limit is None else problems[:limit]
