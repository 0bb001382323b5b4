"""Restricted expressions and scripts for diagrams: an allow-listed AST and small builtins.

Diagrams may come from uploads, and SpiffWorkflow would otherwise run their conditions,
parameters and scripts as full Python. Everything a diagram evaluates passes `check()`
first (at load time, so errors carry the element id and line) and runs through
`RestrictedEnvironment` with only the builtins below.

Extension point: `ALLOWED_NODES` and `SAFE_BUILTINS`. Add a node type or builtin only
when it cannot reach attributes of Python objects, import code, or loop without bound.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Module,
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.If,
    ast.Pass,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.Subscript,
    ast.Slice,
    ast.Attribute,
    ast.Call,
    ast.keyword,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.IfExp,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Div,
    ast.FloorDiv,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.JoinedStr,
    ast.FormattedValue,
)

SAFE_BUILTINS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "sum": sum,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "sorted": sorted,
    "any": any,
    "all": all,
    "isinstance": isinstance,
    "True": True,
    "False": False,
    "None": None,
}

# methods of str/dict/list that could reach object internals or mutate shared data
_BLOCKED_ATTRIBUTES = frozenset(
    {
        "format",
        "format_map",
        "mro",
        "gi_frame",
        "f_globals",
        # these build strings of any size from a small expression
        "ljust",
        "rjust",
        "center",
        "zfill",
        "expandtabs",
        "join",
    }
)
MAX_SOURCE = 4000  # characters in one expression or script


class ExpressionRejected(ValueError):
    """An expression or script that is not allowed; `line` is relative to its text."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def check(source: str, *, mode: str = "eval") -> ast.AST:
    """Parse and allow-list `source`; raise ExpressionRejected naming the offending part."""
    if len(source) > MAX_SOURCE:
        raise ExpressionRejected(f"longer than {MAX_SOURCE} characters")
    try:
        tree = ast.parse(source.strip(), mode=mode)
    except SyntaxError as exc:
        raise ExpressionRejected(f"syntax error: {exc.msg}", exc.lineno) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionRejected("too deeply nested") from None
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = ", ".join(a.name for a in node.names)
            raise ExpressionRejected(f"imports are not allowed (import {names})", line)
        if not isinstance(node, ALLOWED_NODES):
            raise ExpressionRejected(f"{type(node).__name__} is not allowed here", line)
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            raise ExpressionRejected("format specs in f-strings are not allowed", line)
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionRejected(f"name {node.id!r} is not allowed (leading underscore)", line)
        if isinstance(node, ast.Attribute) and (
            node.attr.startswith("_") or node.attr in _BLOCKED_ATTRIBUTES
        ):
            raise ExpressionRejected(f"attribute {node.attr!r} is not allowed", line)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str | bytes)
            and (len(node.value) > 10_000)
        ):
            raise ExpressionRejected("string constant longer than 10000 characters", line)
    return tree


@lru_cache(maxsize=4096)
def _compiled(source: str, mode: str) -> Any:
    return compile(check(source, mode=mode), "<diagram>", mode)  # type: ignore[call-overload]


def _scope(data: Mapping[str, Any]) -> dict[str, Any]:
    """The globals of one evaluation: the safe builtins, and `vars()`/`globals()` as a copy
    of the task data (SpiffWorkflow evaluates over the data as globals, so diagrams test
    `'x' in vars()`); never Python's own, which reach the interpreter."""

    def variables() -> dict[str, Any]:
        return dict(data)

    return {"__builtins__": SAFE_BUILTINS, "vars": variables, "globals": variables}


def evaluate(expression: str, data: Mapping[str, Any]) -> Any:
    """Evaluate a checked expression against task data."""
    local = dict(data)
    return eval(_compiled(expression, "eval"), _scope(local), local)  # noqa: S307 - allow-listed


def execute(script: str, data: dict[str, Any]) -> None:
    """Run a checked script; assignments land in `data`."""
    exec(_compiled(script, "exec"), _scope(data), data)  # noqa: S102 - allow-listed


class RestrictedEnvironment(TaskDataEnvironment):  # type: ignore[misc]
    """SpiffWorkflow script environment that evaluates only allow-listed code."""

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        return evaluate(expression, {**context, **(external_context or {})})

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        data = {**context, **(external_context or {})}
        execute(script, data)
        context.update({k: v for k, v in data.items() if k not in (external_context or {})})
        return True


def script_engine() -> PythonScriptEngine:
    """A SpiffWorkflow script engine bound to the restricted environment."""
    return PythonScriptEngine(environment=RestrictedEnvironment())
