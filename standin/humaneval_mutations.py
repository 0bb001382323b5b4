"""Broken variants of HumanEval reference solutions: small deterministic AST mutations.

Owns the mutators, the order they are tried in, and the choice of which mutations count
as broken for a problem (those not listed in `standin.humaneval_survivors`, else the
always-failing fallback).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from standin.humaneval_problems import entry_function, get_problem, reference_solution
from standin.humaneval_survivors import SURVIVING_MUTATIONS


@dataclass(frozen=True)
class Mutation:
    """A named broken variant of a reference solution."""

    name: str
    code: str


class _Source:
    """Python source with helpers to turn AST positions into string offsets."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.lines = code.splitlines(keepends=True)
        self.starts: list[int] = []
        pos = 0
        for line in self.lines:
            self.starts.append(pos)
            pos += len(line)
        self.starts.append(pos)

    def offset(self, lineno: int, col_bytes: int) -> int:
        """Convert a 1-based line and a UTF-8 byte column into a string offset."""
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode()[:col_bytes].decode(errors="ignore"))

    def span(self, node: ast.expr | ast.stmt) -> tuple[int, int]:
        """Return the string offsets covered by a node."""
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = self.offset(node.lineno, node.col_offset)
        end = self.offset(node.end_lineno, node.end_col_offset)
        return start, end

    def replace(self, node: ast.expr, text: str) -> str:
        """Return the source with the node's text replaced."""
        start, end = self.span(node)
        return self.code[:start] + text + self.code[end:]


def _solution_statements(fn: ast.FunctionDef) -> list[ast.stmt]:
    """Return the body of the entry function without its docstring."""
    body = list(fn.body)
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]
    return body


def _nodes_in_order(fn: ast.FunctionDef) -> list[ast.AST]:
    """Return every node of the solution body in source order."""
    nodes: list[ast.AST] = []
    for stmt in _solution_statements(fn):
        nodes.extend(ast.walk(stmt))
    positioned = [n for n in nodes if hasattr(n, "lineno") and hasattr(n, "col_offset")]
    return sorted(positioned, key=lambda n: (n.lineno, n.col_offset))


_NEGATED_OPS: dict[type[ast.cmpop], Callable[[], ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


def _mutate_return_none(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Replace the value of the first `return` with None."""
    for node in _nodes_in_order(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            if isinstance(node.value, ast.Constant) and node.value.value is None:
                continue
            return src.replace(node.value, "None")
    return None


def _mutate_flip_compare(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Negate the first comparison operator (`<` becomes `>=`, `==` becomes `!=`, …)."""
    for node in _nodes_in_order(fn):
        if isinstance(node, ast.Compare):
            flipped = ast.Compare(
                left=node.left,
                ops=[_NEGATED_OPS[type(node.ops[0])](), *node.ops[1:]],
                comparators=node.comparators,
            )
            return src.replace(node, ast.unparse(flipped))
    return None


def _mutate_range_bound(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Make the stop bound of the first `range(...)` one smaller."""
    for node in _nodes_in_order(fn):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "range"
            and 1 <= len(node.args) <= 3
            and not node.keywords
        ):
            stop = node.args[0] if len(node.args) == 1 else node.args[1]
            smaller = ast.BinOp(left=stop, op=ast.Sub(), right=ast.Constant(1))
            return src.replace(stop, ast.unparse(smaller))
    return None


def _mutate_shift_constant(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Add one to the first integer constant."""
    for node in _nodes_in_order(fn):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int)
            and not isinstance(node.value, bool)
        ):
            return src.replace(node, repr(node.value + 1))
    return None


def _mutate_swap_boolean(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Swap the first `and`/`or` or, failing that, the first True/False constant."""
    nodes = _nodes_in_order(fn)
    for node in nodes:
        if isinstance(node, ast.BoolOp):
            other: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            return src.replace(node, ast.unparse(ast.BoolOp(op=other, values=node.values)))
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return src.replace(node, repr(not node.value))
    return None


_WRONG_TYPE_CLASS = """class _WrongAnswer:
    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    def __bool__(self) -> bool:
        raise TypeError("_WrongAnswer has no truth value")

    __hash__ = object.__hash__


"""


def _mutate_wrong_type(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Return an object of the wrong type before the solution runs (always fails)."""
    body = _solution_statements(fn)
    if not body:
        return None
    first = body[0]
    line_start = src.starts[first.lineno - 1]
    line = src.lines[first.lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    code = src.code[:line_start] + f"{indent}return _WrongAnswer()\n" + src.code[line_start:]
    def_start = src.starts[fn.lineno - 1]
    return code[:def_start] + _WRONG_TYPE_CLASS + code[def_start:]


_Mutator = Callable[[_Source, ast.FunctionDef], "str | None"]

MUTATORS: dict[str, _Mutator] = {
    "return_none": _mutate_return_none,
    "flip_compare": _mutate_flip_compare,
    "range_bound": _mutate_range_bound,
    "shift_constant": _mutate_shift_constant,
    "swap_boolean": _mutate_swap_boolean,
}
"""Realistic mutations, tried in this order."""

FALLBACK_MUTATION = "wrong_type"
"""Used when none of the realistic mutations fails the tests."""


def all_mutations(task_id: str) -> list[Mutation]:
    """Return every applicable mutation of the reference (survivors included, fallback last)."""
    return list(_all_mutations(task_id))


@lru_cache(maxsize=256)
def _all_mutations(task_id: str) -> tuple[Mutation, ...]:
    problem = get_problem(task_id)
    reference = reference_solution(task_id)
    tree = ast.parse(reference)
    fn = entry_function(tree, problem.entry_point)
    src = _Source(reference)
    seen = {reference}
    result: list[Mutation] = []
    mutators: list[tuple[str, _Mutator]] = [
        *MUTATORS.items(),
        (FALLBACK_MUTATION, _mutate_wrong_type),
    ]
    for name, mutator in mutators:
        code = mutator(src, fn)
        if code is None or code in seen:
            continue
        try:
            ast.parse(code)
        except SyntaxError:
            continue
        seen.add(code)
        result.append(Mutation(name=name, code=code))
    return tuple(result)


def broken_mutations(task_id: str) -> list[Mutation]:
    """Return the named mutations of a problem that fail its tests (see `broken_variants`)."""
    survivors = set(SURVIVING_MUTATIONS.get(task_id, ()))
    candidates = all_mutations(task_id)
    chosen = [m for m in candidates if m.name != FALLBACK_MUTATION and m.name not in survivors]
    if not chosen:
        chosen = [m for m in candidates if m.name == FALLBACK_MUTATION]
    return chosen


def broken_variants(task_id: str) -> list[str]:
    """Return deterministic broken variants of the reference solution; each fails the tests."""
    return [m.code for m in broken_mutations(task_id)]
