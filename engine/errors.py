"""Errors of the engine package; each names the thing that failed and carries an HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import exc as sa


class EngineError(Exception):
    """Base class: a user-facing error with a message that says what to do next."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FormInvalid(EngineError):
    """422: a person's answer does not fit the task's form; `errors` names each field."""

    status_code = 422

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class BadRequest(EngineError):
    """A request that names something this server does not have (e.g. a model group)."""

    status_code = 422


class NotFound(EngineError):
    """A run, diagram, task or incident that does not exist."""

    status_code = 404


class Conflict(EngineError):
    """The thing exists but is not in a state that allows the request."""

    status_code = 409


@dataclass
class DiagramProblem:
    """One problem in a diagram: where it is and what is wrong."""

    file: str
    element_id: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.element_id:
            where += f" (element {self.element_id})"
        return f"{where}: {self.message}"


@dataclass
class DiagramInvalid(EngineError):
    """A diagram that failed loading or checking; `problems` lists every finding."""

    problems: list[DiagramProblem] = field(default_factory=list)
    status_code = 422

    def __post_init__(self) -> None:
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid diagram")


class OperatorError(Exception):
    """An operator failed in a way another attempt will not fix (bad input, bad answer).

    `code` is the BPMN error code a boundary error event on the step can catch.
    """

    retryable = False

    def __init__(self, message: str, *, code: str = "operator_failed", kind: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.failure_kind = kind  # a model call's failure kind (timeout, rate_limit, …)


class RetryableOperatorError(OperatorError):
    """A failure another attempt may fix: timeout, 429, 5xx, sandbox crash."""

    retryable = True


def is_infrastructure(exc: BaseException) -> bool:
    """Whether `exc` is the database or its connection pool failing (a restart, a dropped
    connection, a pool that stayed full): not the operator's fault, so the step is retried
    with backoff rather than turned into an operator incident."""
    if isinstance(exc, sa.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.OperationalError | sa.InterfaceError
        )
    return isinstance(exc, sa.TimeoutError | psycopg.OperationalError | psycopg.InterfaceError)
