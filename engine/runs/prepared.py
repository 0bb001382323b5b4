"""A waiting service task as a worker sees it: `StepInfo` names the step and what it runs for;
`PreparedStep` adds the evaluated parameters; the operator's `StepContext` builds on the same
`StepInfo`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

from engine.runs.requests import RunRequest


@dataclass
class StepInfo:
    """One step of a run: which task and element, which operator, for which request."""

    run_id: UUID
    task_id: UUID
    element_id: str
    element_name: str
    process_id: str
    operator: str
    request: RunRequest
    task_type: str  # the run's task type (see `runs.task_type`)
    visit: int  # 1 for the first execution of this element in the run, 2 for the next …
    pattern: str | None

    def info(self) -> dict[str, Any]:
        """The `StepInfo` fields alone, to build another view of the same step."""
        return {f.name: getattr(self, f.name) for f in fields(StepInfo)}


@dataclass
class PreparedStep(StepInfo):
    """A waiting service task, ready for a worker to run its operator."""

    params: dict[str, Any]


class ParamError(str):
    """A parameter that failed to evaluate; the worker turns it into an OperatorError."""
