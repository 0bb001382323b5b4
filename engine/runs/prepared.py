"""A waiting service task as a worker sees it: `StepInfo` names the step and what it runs for;
`PreparedStep` adds the evaluated parameters; the operator's `StepContext` builds on the same
`StepInfo`."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select

from engine.diagrams.expressions import evaluate
from engine.diagrams.specs import JobScriptTask
from engine.runs.requests import RunRequest
from engine.tables import runs, steps


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


def encode_params(params: dict[str, Any]) -> dict[str, Any] | None:
    """Evaluated parameters as stored on the step row; None when a value is not JSON (the
    worker then evaluates them again from the restored run)."""
    values = {k: v for k, v in params.items() if not isinstance(v, ParamError)}
    errors = {k: str(v) for k, v in params.items() if isinstance(v, ParamError)}
    try:
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return {"values": values, "errors": errors}


def decode_params(stored: dict[str, Any]) -> dict[str, Any]:
    """The parameters `encode_params` stored."""
    return {**stored["values"], **{k: ParamError(v) for k, v in stored["errors"].items()}}


def evaluate_params(spec: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The service task's parameters evaluated over its task data; failures as `ParamError`.
    A script task's are its script and a copy of its task data."""
    if isinstance(spec, JobScriptTask):
        return {"script": spec.script, "data": dict(data)}
    params: dict[str, Any] = {}
    for name, param in spec.operation_params.items():
        try:
            params[name] = evaluate(param["value"], data)
        except Exception as exc:  # any failure is the diagram's: report, don't crash
            params[name] = ParamError(
                f"step {spec.bpmn_id}: parameter {name!r} = {param['value']!r} "
                f"could not be evaluated: {type(exc).__name__}: {exc}"
            )
    return params


def _visit() -> Any:
    """How many times the step's element has run in its process of the run, this time
    included (a column of the query that loads the step)."""
    earlier = steps.alias("earlier")
    return (
        select(func.count())
        .select_from(earlier)
        .where(
            earlier.c.run_id == steps.c.run_id,
            earlier.c.element_id == steps.c.element_id,
            earlier.c.process_id == steps.c.process_id,
            earlier.c.started_at <= steps.c.started_at,
        )
        .scalar_subquery()
        .label("visit")
    )


# the query that loads a waiting step for its job, built once (statements are cached
# compiled by shape, but building one costs as much as running it)
PREPARE_STEP = (
    select(
        steps.c.element_id,
        steps.c.name,
        steps.c.process_id,
        steps.c.operator,
        steps.c.state,
        steps.c.params,
        runs.c.status,
        runs.c.request,
        runs.c.task_type,
        runs.c.pattern,
        _visit(),
    )
    .join(runs, runs.c.id == steps.c.run_id)
    .where(steps.c.task_id == bindparam("task_id"), steps.c.run_id == bindparam("run_id"))
)
