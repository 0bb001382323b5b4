"""Schema (XSD) checking of a diagram with every error reported, each on the element it
concerns: SpiffWorkflow's validator stops at the first and names only a line."""

from __future__ import annotations

import re

from lxml import etree
from SpiffWorkflow.spiff.parser import VALIDATOR

from engine.diagrams.dialects import owner_id
from engine.errors import DiagramProblem

PREFIXES = {
    "http://www.omg.org/spec/BPMN/20100524/MODEL": "bpmn",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
    "http://www.omg.org/spec/DD/20100524/DI": "di",
    "http://www.omg.org/spec/DD/20100524/DC": "dc",
    "http://spiffworkflow.org/bpmn/schema/1.0/core": "spiffworkflow",
}
_QUALIFIED = re.compile(r"\{([^}]*)\}")
MAX_SCHEMA_ERRORS = 50


def schema_problems(tree: etree._ElementTree, filename: str) -> list[DiagramProblem]:
    """Every schema error of `tree` (SpiffWorkflow's BPMN and extension schemas), each with
    the id of the BPMN element at its line, or of the one enclosing it."""
    VALIDATOR.preprocess(tree)  # as SpiffWorkflow does before validating
    schema = VALIDATOR.validator
    if schema.validate(tree):
        return []
    at_line: dict[int, etree._Element] = {}
    for element in tree.iter():
        if isinstance(element.tag, str) and element.sourceline is not None:
            at_line.setdefault(element.sourceline, element)
    problems = []
    for error in list(schema.error_log)[:MAX_SCHEMA_ERRORS]:
        problems.append(
            DiagramProblem(
                filename, owner_id(at_line.get(error.line)), error.line, _readable(error.message)
            )
        )
    return problems


def _readable(message: str) -> str:
    """lxml's message with namespace URIs as the prefixes people write."""
    named = _QUALIFIED.sub(lambda m: f"{PREFIXES.get(m.group(1), m.group(1))}:", message)
    return f"schema: {named}"
