"""Learned policies as DMN decision tables: writing one from what was learned (one rule per
context, the learned choice as output, the evidence as the rule's annotation) and deciding
from a (possibly edited) table with SpiffWorkflow's DMN engine and the restricted
expression environment, as business rule tasks do."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from lxml import etree

from engine.diagrams.expressions import script_engine
from engine.diagrams.loading import parse_xml
from engine.diagrams.specs import WeaverParser

DMN = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DMNDI = "https://www.omg.org/spec/DMN/20191111/DMNDI/"
DC = "http://www.omg.org/spec/DMN/20180521/DC/"
POLICIES = ("pattern", "route", "failure")
# per policy: its inputs (variable, label), its output (name, label), the decision id
INPUTS: dict[str, list[tuple[str, str]]] = {
    "pattern": [("task_type", "Task type"), ("language", "Language")],
    "route": [("element", "Step"), ("task_type", "Task type"), ("language", "Language")],
    "failure": [("failure_class", "Failure class"), ("element", "Step")],
}
OUTPUTS: dict[str, tuple[str, str]] = {
    "pattern": ("pattern", "Pattern"),
    "route": ("group", "Model group"),
    "failure": ("action", "Action after the failure"),
}
TITLES = {
    "pattern": "Which pattern runs a request",
    "route": "Which model group does a step",
    "failure": "What happens after a step fails",
}


def decision_id(policy: str) -> str:
    """The DMN decision id of a policy's table (`learned_route`)."""
    return f"learned_{policy}"


@dataclass(frozen=True)
class Rule:
    """One row: input values ("" = any), the output, and the evidence behind it."""

    inputs: dict[str, str]
    output: str
    note: str


def table_xml(policy: str, rules: list[Rule]) -> str:
    """A DMN 1.3 file with one decision table (hit policy FIRST) for `policy`."""
    did = decision_id(policy)
    root = etree.Element(
        f"{{{DMN}}}definitions",
        nsmap={None: DMN, "dmndi": DMNDI, "dc": DC},
        id=f"{did}_definitions",
        name=TITLES[policy],
        namespace="https://weavergen.dev/policies",
    )
    decision = etree.SubElement(root, f"{{{DMN}}}decision", id=did, name=TITLES[policy])
    table = etree.SubElement(
        decision, f"{{{DMN}}}decisionTable", id=f"{did}_table", hitPolicy="FIRST"
    )
    for var, label in INPUTS[policy]:
        node = etree.SubElement(table, f"{{{DMN}}}input", id=f"input_{var}", label=label)
        expression = etree.SubElement(
            node, f"{{{DMN}}}inputExpression", id=f"input_{var}_expression", typeRef="string"
        )
        etree.SubElement(expression, f"{{{DMN}}}text").text = var
    name, label = OUTPUTS[policy]
    etree.SubElement(
        table, f"{{{DMN}}}output", id=f"output_{name}", label=label, name=name, typeRef="string"
    )
    for i, rule in enumerate(rules, 1):
        row = etree.SubElement(table, f"{{{DMN}}}rule", id=f"rule_{i}")
        etree.SubElement(row, f"{{{DMN}}}description").text = rule.note
        for var, _ in INPUTS[policy]:
            entry = etree.SubElement(row, f"{{{DMN}}}inputEntry", id=f"rule_{i}_{var}")
            value = rule.inputs.get(var, "")
            etree.SubElement(entry, f"{{{DMN}}}text").text = json.dumps(value) if value else "-"
        out = etree.SubElement(row, f"{{{DMN}}}outputEntry", id=f"rule_{i}_{name}")
        etree.SubElement(out, f"{{{DMN}}}text").text = json.dumps(rule.output)
    di = etree.SubElement(root, f"{{{DMNDI}}}DMNDI")
    diagram = etree.SubElement(di, f"{{{DMNDI}}}DMNDiagram", id=f"{did}_diagram")
    shape = etree.SubElement(diagram, f"{{{DMNDI}}}DMNShape", id=f"{did}_shape", dmnElementRef=did)
    etree.SubElement(shape, f"{{{DC}}}Bounds", height="80", width="180", x="160", y="100")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode()


@dataclass(frozen=True)
class Decided:
    """What a table said: the output (None when no rule matched or it failed) and why."""

    output: str | None
    rule: int | None  # the matching row's number (1-based)
    error: str = ""


@lru_cache(maxsize=32)  # a pinned table is evaluated for every decision: parse it once
def _engine(xml: str, did: str) -> Any:
    parser = WeaverParser(validator=None)
    parser.add_dmn_xml(parse_xml(xml.encode(), f"{did}.dmn").getroot())
    found = [d for d in parser.dmn_parsers if d]
    return parser.get_engine(found[0] if len(found) == 1 else did, None)


def decide(xml: str, policy: str, inputs: dict[str, str]) -> Decided:
    """Evaluate a policy's table for `inputs` (the variables of `INPUTS[policy]`)."""
    did = decision_id(policy)
    try:
        engine = _engine(xml, did)
        task: Any = SimpleNamespace(
            data=dict(inputs), workflow=SimpleNamespace(script_engine=script_engine())
        )
        rules = engine.decide(task)
        if not rules:
            return Decided(None, None)
        result = rules[0].output_as_dict(task)
    except Exception as exc:  # an edited table may hold anything; the caller falls back
        return Decided(None, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    value = result.get(OUTPUTS[policy][0])
    if value is None and len(result) == 1:
        value = next(iter(result.values()))
    return Decided(None if value in (None, "") else str(value), int(rules[0].row_number))
