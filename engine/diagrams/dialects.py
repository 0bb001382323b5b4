"""Diagrams drawn for other engines, told what to change: Camunda's expression language and
its ways of binding code to a service task have WeaverGen equivalents, and the problems
say which (all of them at once, each with its element and line)."""

from __future__ import annotations

import re

from lxml import etree

from engine.errors import DiagramProblem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
_JUEL = re.compile(r"^\s*[$#]\{.*\}\s*$", re.S)
_CAMUNDA_BINDINGS = ("class", "delegateExpression", "expression", "type", "topic")

CONDITION_HINT = (
    "conditions are Python expressions over task data, e.g. `amount > 1000` "
    "(this looks like Camunda's `${…}`)"
)


def is_juel(text: str) -> bool:
    """Whether an expression is written in Camunda's `${…}` / `#{…}` language."""
    return bool(_JUEL.match(text))


def unbound_service_tasks(
    tree: etree._ElementTree, filename: str, known_operators: set[str]
) -> list[DiagramProblem]:
    """Service tasks with no operator: what other engines bound instead, and how to bind one."""
    problems = []
    operators = ", ".join(sorted(known_operators))
    for task in tree.iterfind(".//bpmn:serviceTask", _NS):
        if task.find(".//spiffworkflow:serviceTaskOperator", _NS) is not None:
            continue
        foreign = [
            f'camunda:{name}="{task.get(f"{{{CAMUNDA_NS}}}{name}")}"'
            for name in _CAMUNDA_BINDINGS
            if task.get(f"{{{CAMUNDA_NS}}}{name}") is not None
        ]
        what = (
            f"uses {', '.join(foreign)}, which WeaverGen does not run"
            if foreign
            else "has no operator"
        )
        problems.append(
            DiagramProblem(
                filename,
                task.get("id"),
                task.sourceline,
                f"service task {what}; bind an operator instead (one of: {operators}): "
                "in the editor select the task and pick it under Operator, or add "
                '<spiffworkflow:serviceTaskOperator id="…"> in its extensionElements',
            )
        )
    return problems


def executable(process: etree._Element) -> bool:
    """SpiffWorkflow's rule: a process is executable unless it says isExecutable="false"."""
    return process.get("isExecutable", "true").lower() != "false"


def owner_id(node: etree._Element | None) -> str | None:
    """The id of the nearest BPMN element holding a node (an expression's task or flow)."""
    while node is not None:
        if node.get("id") and etree.QName(node).namespace == BPMN_NS:
            return str(node.get("id"))
        node = node.getparent()
    return None
