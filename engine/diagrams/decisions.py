"""Loading and checking DMN decision tables: the same hardened XML loading as diagrams, the
DMN schema with every error on its element, one decision table per file, and every
expression the table evaluates checked as a restricted expression (SpiffWorkflow's DMN
engine evaluates inputs, rule entries and outputs through the run's script engine)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS

from engine.diagrams.expressions import ExpressionRejected, check
from engine.diagrams.loading import parse_xml
from engine.diagrams.schema import problems_from
from engine.diagrams.specs import WeaverParser
from engine.errors import DiagramInvalid, DiagramProblem

# the DMN engine's stand-in for `?` in an entry like `4 < ? < 6` (outside quotes)
_QUESTION = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")


@dataclass(frozen=True)
class LoadedDecision:
    """A checked .dmn file: its one decision table."""

    decision_id: str
    name: str
    filename: str
    xml: str
    sha256: str


def load_decision(data: bytes, filename: str) -> LoadedDecision:
    """Parse and check one .dmn file; DiagramInvalid lists every problem found."""
    tree = parse_xml(data, filename)
    root = tree.getroot()
    qname = etree.QName(root)
    if qname.localname != "definitions" or qname.namespace not in SCHEMAS:
        versions = ", ".join(sorted(SCHEMAS))
        raise DiagramInvalid(
            [
                DiagramProblem(
                    filename,
                    None,
                    root.sourceline,
                    f"a .dmn file's root is a DMN definitions element (namespaces: {versions})",
                )
            ]
        )
    ns = {"dmn": str(qname.namespace)}
    problems = _schema_problems(tree, filename, str(qname.namespace))
    decisions = root.findall("dmn:decision", ns)
    if len(decisions) != 1:
        problems.append(
            DiagramProblem(
                filename,
                None,
                root.sourceline,
                f"{len(decisions)} decisions in the file; put each decision table in a .dmn "
                "file of its own",
            )
        )
        raise DiagramInvalid(problems)
    decision = decisions[0]
    decision_id = str(decision.get("id") or "")
    table = decision.find("dmn:decisionTable", ns)
    if table is None:
        problems.append(
            DiagramProblem(
                filename,
                decision_id,
                decision.sourceline,
                "only decision tables are supported: model the decision as a decisionTable",
            )
        )
        raise DiagramInvalid(problems)
    problems += list(_expression_problems(table, ns, filename))
    if not problems:
        parser = WeaverParser()
        try:
            parser.add_dmn_xml(root, filename)
            parser.get_engine(decision_id, root)
        except (ValidationException, KeyError, IndexError, ValueError) as exc:
            message = str(exc.args[0]) if exc.args else type(exc).__name__
            problems.append(DiagramProblem(filename, decision_id, decision.sourceline, message))
    if problems:
        raise DiagramInvalid(problems)
    return LoadedDecision(
        decision_id=decision_id,
        name=decision.get("name") or decision_id,
        filename=filename,
        xml=etree.tostring(tree, encoding="unicode"),
        sha256=hashlib.sha256(data).hexdigest(),
    )


@cache
def _validator(namespace: str) -> BpmnValidator:
    return BpmnValidator(SCHEMAS[namespace])


def _schema_problems(
    tree: etree._ElementTree, filename: str, namespace: str
) -> list[DiagramProblem]:
    return problems_from(_validator(namespace).validator, tree, filename, _owner)


def _owner(node: etree._Element | None) -> str | None:
    while node is not None:
        if node.get("id"):
            return str(node.get("id"))
        node = node.getparent()
    return None


def _expression_problems(
    table: etree._Element, ns: dict[str, str], filename: str
) -> Iterable[DiagramProblem]:
    """Each expression as the DMN engine will evaluate it, checked like a condition."""
    inputs = []
    for node in table.findall("dmn:input", ns):
        text = node.find("dmn:inputExpression/dmn:text", ns)
        expression = (text.text or "").strip() if text is not None else ""
        inputs.append(expression)
        if not expression:
            yield DiagramProblem(
                filename,
                node.get("id"),
                node.sourceline,
                "input without an expression: name the task data it reads, e.g. amount",
            )
            continue
        yield from _checked(expression, node, filename, "input")
    for rule in table.findall("dmn:rule", ns):
        entries = rule.findall("dmn:inputEntry", ns)
        for entry, expression in zip(entries, inputs, strict=False):
            text = (entry.findtext("dmn:text", "", ns) or "").strip()
            if text in ("", "-") or not expression:
                continue
            if _QUESTION.search(text):
                yield from _checked(_QUESTION.sub("dmninputexpr", text), entry, filename, "rule")
            elif _parses(text):
                yield from _checked(f"({expression}) == ({text})", entry, filename, "rule")
            else:
                yield from _checked(f"{expression}{text}", entry, filename, "rule")
        for entry in rule.findall("dmn:outputEntry", ns):
            text = (entry.findtext("dmn:text", "", ns) or "").strip()
            if text:
                yield from _checked(text, entry, filename, "output")


def _parses(text: str) -> bool:
    try:
        compile(text, "<entry>", "eval")
    except SyntaxError:
        return False
    return True


def _checked(
    expression: str, node: etree._Element, filename: str, kind: str
) -> Iterable[DiagramProblem]:
    try:
        check(expression, mode="eval")
    except ExpressionRejected as exc:
        hint = ' (entries are Python expressions over task data, e.g. < 100 or "gold")'
        yield DiagramProblem(
            filename, node.get("id"), node.sourceline, f"{kind} {expression!r}: {exc}{hint}"
        )
