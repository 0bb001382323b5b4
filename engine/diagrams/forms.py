"""Person tasks' forms and assignment, read from a diagram at upload.

A user or manual task's form is a JSON Schema (with an optional UI schema), from:
- spiff-arena: `spiffworkflow:property` `formJsonSchemaFilename` / `formUiSchemaFilename`
  naming JSON files uploaded beside the diagram (or, for shipped diagrams, in bpmn/forms/);
- Camunda Modeler: `camunda:formData` fields, translated to JSON Schema here.
With it go the task's lane and candidate groups (`camunda:candidateGroups`), which the task
inbox filters on. Stored with the diagram version by element id; a person's answer is
validated against the schema before it lands in task data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from lxml import etree

from engine.errors import DiagramProblem
from engine.json_limits import JsonTooLarge, check_json

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF, "camunda": CAMUNDA}
PERSON_TASKS = ("userTask", "manualTask", "startEvent")  # a start event's form: start data
MAX_FORM_BYTES = 200_000
# Camunda form field types -> JSON Schema
_CAMUNDA_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "long": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
}


def person_tasks(
    root: etree._Element,
    filename: str,
    files: Mapping[str, bytes] | None,
    stored: Mapping[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[DiagramProblem], list[DiagramProblem]]:
    """Element id -> {"lane", "groups", "schema"?, "ui"?} for every person task, the
    problems found (a bad schema file, a Camunda field type we cannot map) and the warnings
    (a form file not uploaded: the task has no form until it is — SpiffWorkflow runs such a
    diagram, spiff-arena only draws the form).
    `files` None: the schema files are not at hand (a stored diagram rebuilt), so forms
    from files are left out rather than reported missing. `stored`: the person tasks of the
    diagram's newest stored version: a form file not uploaded again (the editor saves only
    the diagram) keeps the form that version has."""
    lanes = {
        str(ref.text).strip(): lane.get("name") or lane.get("id")
        for lane in root.iterfind(".//bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
        if ref.text
    }
    found: dict[str, dict[str, Any]] = {}
    problems: list[DiagramProblem] = []
    warnings: list[DiagramProblem] = []
    for kind in PERSON_TASKS:
        for task in root.iterfind(f".//bpmn:{kind}", NS):
            element_id = str(task.get("id"))
            groups = task.get(f"{{{CAMUNDA}}}candidateGroups") or ""
            info: dict[str, Any] = {
                "kind": kind,
                "lane": lanes.get(element_id),
                "groups": [g.strip() for g in groups.split(",") if g.strip()],
            }
            kept = (stored or {}).get(element_id, {})
            for problem in _form(task, element_id, filename, files, info, kept, warnings):
                problems.append(problem)
            found[element_id] = info
    return found, problems, warnings


def _form(
    task: etree._Element,
    element_id: str,
    filename: str,
    files: Mapping[str, bytes] | None,
    info: dict[str, Any],
    kept: Mapping[str, Any],
    warnings: list[DiagramProblem],
) -> Iterator[DiagramProblem]:
    props = {
        p.get("name"): p.get("value")
        for p in task.iterfind("bpmn:extensionElements/spiffworkflow:properties/*", NS)
    }
    schema_file, ui_file = props.get("formJsonSchemaFilename"), props.get("formUiSchemaFilename")
    fields = task.findall("bpmn:extensionElements/camunda:formData/camunda:formField", NS)
    if schema_file and files is not None:
        for key, name in (("schema", schema_file), ("ui", ui_file)):
            if not name:
                continue
            if name not in files and key in kept:
                info[key] = kept[key]
                continue
            if name not in files:
                warnings.append(
                    DiagramProblem(
                        filename,
                        element_id,
                        task.sourceline,
                        f"form file {name!r} is not uploaded, so the task has no form: upload "
                        "it with the diagram (the `forms` field of POST /api/diagrams)",
                    )
                )
                continue
            try:
                value = json.loads(files[name])
                check_json(value, f"form file {name}", max_bytes=MAX_FORM_BYTES)
            except (ValueError, RecursionError) as exc:
                yield DiagramProblem(filename, element_id, task.sourceline, f"{name}: {exc}")
                continue
            except JsonTooLarge as exc:
                yield DiagramProblem(filename, element_id, task.sourceline, exc.message)
                continue
            info[key] = value
        if "schema" in info and schema_file in files:
            yield from _schema_checked(info["schema"], element_id, filename, task, schema_file)
    elif fields and not schema_file:
        schema, ui, bad = _from_camunda(fields, filename, element_id)
        yield from bad
        info["schema"], info["ui"] = schema, ui


def _schema_checked(
    schema: Any, element_id: str, filename: str, task: etree._Element, name: str
) -> Iterator[DiagramProblem]:
    if not isinstance(schema, dict):
        yield DiagramProblem(filename, element_id, task.sourceline, f"{name}: not a JSON object")
        return
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "the schema"
        yield DiagramProblem(
            filename,
            element_id,
            task.sourceline,
            f"{name}: not a JSON Schema ({where}): {exc.message}",
        )


def _from_camunda(
    fields: list[etree._Element], filename: str, element_id: str
) -> tuple[dict[str, Any], dict[str, Any], list[DiagramProblem]]:
    """Camunda form fields as a JSON Schema object and a UI schema (field order)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    problems = []
    for field in fields:
        name = str(field.get("id") or "")
        kind = field.get("type") or "string"
        prop: dict[str, Any]
        if kind == "enum":
            values = field.findall("camunda:value", NS)
            prop = {
                "type": "string",
                "oneOf": [
                    {"const": v.get("id"), "title": v.get("name") or v.get("id")} for v in values
                ],
            }
        elif kind in _CAMUNDA_TYPES:
            prop = dict(_CAMUNDA_TYPES[kind])
        else:
            problems.append(
                DiagramProblem(
                    filename,
                    element_id,
                    field.sourceline,
                    f"form field {name!r} has type {kind!r}; use string, long, boolean, date "
                    "or enum",
                )
            )
            continue
        if field.get("label"):
            prop["title"] = field.get("label")
        default = field.get("defaultValue")
        if default is not None:
            prop["default"] = _typed(default, prop["type"])
        for constraint in field.iterfind("camunda:validation/camunda:constraint", NS):
            rule, config = constraint.get("name"), constraint.get("config")
            if rule == "required":
                required.append(name)
            elif rule == "readonly":
                prop["readOnly"] = True
            elif rule in ("min", "max") and config is not None:
                bound = "minimum" if rule == "min" else "maximum"
                if prop["type"] == "string":
                    bound = "minLength" if rule == "min" else "maxLength"
                prop[bound] = _typed(config, "integer")
            elif rule in ("minlength", "maxlength") and config is not None:
                prop["minLength" if rule == "minlength" else "maxLength"] = _typed(
                    config, "integer"
                )
        properties[name] = prop
    schema = {"type": "object", "properties": properties, "required": required}
    return schema, {"ui:order": list(properties)}, problems


def _typed(text: str, kind: str) -> Any:
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "boolean":
        return text.strip().lower() == "true"
    return text


def answer_errors(schema: dict[str, Any], answer: Any) -> list[dict[str, str]]:
    """Every way `answer` breaks `schema`: [{"field": "/amount", "message": …}]."""
    validator = validator_for(schema, default=Draft202012Validator)(schema)
    out = []
    for error in sorted(validator.iter_errors(answer), key=lambda e: list(e.path)):
        field = "/" + "/".join(str(p) for p in error.path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = next((n for n in error.validator_value if n not in error.instance), None)
            field = f"{field.rstrip('/')}/{missing}" if missing else field
        out.append({"field": field, "message": error.message})
    return out
