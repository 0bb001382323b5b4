"""Schema (XSD) checking of diagrams and decision tables with every error reported, each on
the element it concerns: SpiffWorkflow's validators stop at the first and name only a line."""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser import VALIDATOR

from engine.diagrams.dialects import owner_id
from engine.errors import DiagramProblem

PREFIXES = {
    "http://www.omg.org/spec/BPMN/20100524/MODEL": "bpmn",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
    "http://www.omg.org/spec/DD/20100524/DI": "di",
    "http://www.omg.org/spec/DD/20100524/DC": "dc",
    "http://spiffworkflow.org/bpmn/schema/1.0/core": "spiffworkflow",
    **{namespace: "dmn" for namespace in DMN_SCHEMAS},
}
_QUALIFIED = re.compile(r"\{([^}]*)\}")
MAX_SCHEMA_ERRORS = 50
Owner = Callable[[etree._Element | None], str | None]


def schema_problems(tree: etree._ElementTree, filename: str) -> list[DiagramProblem]:
    """Every schema error of a diagram (SpiffWorkflow's BPMN and extension schemas), each
    with the id of the BPMN element at its line, or of the one enclosing it."""
    VALIDATOR.preprocess(tree)  # as SpiffWorkflow does before validating
    return problems_from(VALIDATOR.validator, tree, filename, owner_id)


def problems_from(
    schema: etree.XMLSchema, tree: etree._ElementTree, filename: str, owner: Owner
) -> list[DiagramProblem]:
    """`schema`'s errors over `tree`, each on the element `owner` names for its line."""
    if schema.validate(tree):
        return []
    at_line: dict[int, etree._Element] = {}
    for element in tree.iter():
        if isinstance(element.tag, str) and element.sourceline is not None:
            at_line.setdefault(element.sourceline, element)
    return [
        DiagramProblem(
            filename, owner(at_line.get(error.line)), error.line, readable(error.message)
        )
        for error in list(schema.error_log)[:MAX_SCHEMA_ERRORS]
    ]


def readable(message: str) -> str:
    """lxml's message with namespace URIs as the prefixes people write."""
    named = _QUALIFIED.sub(lambda m: f"{PREFIXES.get(m.group(1), m.group(1))}:", message)
    return f"schema: {named}"
