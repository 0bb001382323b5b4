"""An answer with code and no tests, as real models give them: module-level `assert`s after
the code become a test file, and when there are none (nor `>>>` examples, engine/ops/
doctests.py) the model is asked once more, for tests alone. Without tests the tests stage
can only report `tests.missing`, which tells the improve loop nothing about the code.
"""

from __future__ import annotations

import ast
from collections.abc import Awaitable, Callable

from engine.ops.codeblocks import extract_files
from validation.mesh import is_test_file

ANSWER_TESTS = "test_{module}.py"  # the module-level asserts of `module`.py, moved


def has_tests(files: dict[str, str], language: str) -> bool:
    """Whether any of `files` is a test file the tests stage runs."""
    return any(is_test_file(language, p) for p in files)


def has_code(files: dict[str, str], language: str) -> bool:
    """Whether any of `files` is code (not a test, not prose)."""
    return any(
        not is_test_file(language, p) and not p.lower().endswith((".md", ".txt", ".rst"))
        for p in files
    )


def with_answer_asserts(files: dict[str, str], language: str) -> dict[str, str]:
    """Python without a test file whose module ends in top-level `assert`s (and the `print`s
    among them): those move to `test_<module>.py`, one test importing the module."""
    if language != "python" or has_tests(files, language):
        return files
    for path, code in files.items():
        if "/" in path or not path.endswith(".py") or not path[:-3].isidentifier():
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        moved = _trailing_checks(tree)
        if not moved:
            continue
        lines = code.splitlines()
        taken = {n for node in moved for n in range(node.lineno - 1, node.end_lineno or 0)}
        body = "\n".join("    " + lines[n].strip() for n in sorted(taken))
        kept = "\n".join(line for n, line in enumerate(lines) if n not in taken).rstrip()
        module = path[:-3]
        test = (
            f"from {module} import *  # noqa: F403 - the answer's own checks\n\n\n"
            f"def test_the_answers_checks():\n{body}\n"
        )
        return {**files, path: kept + "\n", ANSWER_TESTS.format(module=module): test}
    return files


def _trailing_checks(tree: ast.Module) -> list[ast.stmt]:
    """The module's top-level asserts from the first one on, with the prints and simple
    assignments between them (`test_add = [10, 2]`); none when no assert is at top level."""
    first = next((i for i, s in enumerate(tree.body) if isinstance(s, ast.Assert)), None)
    if first is None:
        return []
    tail = tree.body[first:]
    if any(isinstance(s, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef) for s in tail):
        return [s for s in tail if isinstance(s, ast.Assert)]
    return [s for s in tail if isinstance(s, ast.Assert | ast.Expr | ast.Assign)]


async def with_requested_tests(
    files: dict[str, str], language: str, ask: Callable[[dict[str, str]], Awaitable[str]]
) -> dict[str, str]:
    """`files` plus the test files of a second answer (`ask(files)` asks the model for tests
    of them) when they hold code but no tests; its other files are ignored."""
    if not has_code(files, language) or has_tests(files, language):
        return files
    answer = await ask(files)
    tests = {
        p: c
        for p, c in extract_files(answer, language).items()
        if is_test_file(language, p) and p not in files
    }
    return {**files, **tests}
