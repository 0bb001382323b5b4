"""Limits on JSON that people and models send: how deep it nests and how large it is.

Checked before anything is stored, so a run's state always serializes and every read of it
answers: SpiffWorkflow's serializer and the JSON encoders recurse, and 300 levels of
`[[[…]]]` in a task's data once made a run unreadable for good. The walk here is a loop,
so a value of any depth is measured without recursion.
"""

from __future__ import annotations

from typing import Any

from engine.errors import BadRequest

MAX_DEPTH = 32  # levels of objects and arrays; forms and operator results use a handful
MAX_TASK_DATA_BYTES = 1_000_000  # a person's answer to a user task
MAX_RESULT_BYTES = 4_000_000  # an operator's result (code travels as files, by reference)


class JsonTooLarge(BadRequest):
    """422: the value is nested too deep or too large; the message names the limit."""


def check_json(value: Any, what: str, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonTooLarge when `value` nests deeper than `max_depth` levels or its JSON
    would be larger than `max_bytes` (counted in characters)."""
    size = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise JsonTooLarge(
                    f"{what} nests deeper than {max_depth} levels of objects and arrays; "
                    "send flatter data"
                )
            if isinstance(item, dict):
                size += 2 + sum(len(str(key)) + 4 for key in item)  # "key": ,
                stack.extend((child, depth + 1) for child in item.values())
            else:
                size += 2 + len(item)  # [ ] and commas
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            size += len(item) + 2
        else:
            size += 8
        if size > max_bytes:
            raise JsonTooLarge(
                f"{what} is larger than {max_bytes // 1000} kB as JSON; send less, or attach "
                "large text as a file"
            )
