"""What people send, checked against the diagram's forms before it lands in task data: a
run's start data against its start event's form, a person task's answer against the task's
form (JSON Schema, engine/diagrams/forms.py). FormInvalid (422) names each field."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from engine.diagrams.catalog import DiagramCatalog
from engine.diagrams.forms import answer_errors
from engine.errors import BadRequest, FormInvalid
from engine.json_limits import MAX_TASK_DATA_BYTES, check_json
from engine.runs.requests import RUN_VARIABLES


async def check_start_data(
    catalog: DiagramCatalog, conn: AsyncConnection, version_id: int, data: dict[str, Any]
) -> None:
    """FormInvalid when the start data does not fit the start event's form; BadRequest
    for the run's own variable names or data over the limits."""
    reserved = sorted(set(data) & RUN_VARIABLES)
    if reserved:
        raise BadRequest(f"{', '.join(reserved)} are set by the run itself; rename them")
    check_json(data, "the start data", max_bytes=MAX_TASK_DATA_BYTES)
    start = await catalog.start_form(conn, version_id)
    if start is not None:
        element, schema = start
        _refuse_misfit(schema, data, f"the start data does not fit the form of {element}", element)


async def check_answer(
    catalog: DiagramCatalog,
    conn: AsyncConnection,
    spec_versions: dict[str, int],
    task: Any,
    data: dict[str, Any],
) -> None:
    """FormInvalid when a person task's answer does not fit its form."""
    version_id = spec_versions.get(task.workflow.spec.name)
    if version_id is None:
        return
    element = task.task_spec.bpmn_id
    schema = (await catalog.person_task(conn, version_id, element)).get("schema")
    if schema:
        _refuse_misfit(schema, data, f"the answer does not fit the form of task {element}", element)


def _refuse_misfit(schema: dict[str, Any], data: Any, what: str, element: str) -> None:
    errors = answer_errors(schema, data)
    if errors:
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise FormInvalid(f"{what}: {fields}", [{"element_id": element, **e} for e in errors])
