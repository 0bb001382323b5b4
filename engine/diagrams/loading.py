"""Loading and checking diagrams: hardened XML, schema validation, operators, expressions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.diagrams.dialects import (
    CONDITION_HINT,
    executable,
    is_juel,
    owner_id,
    unbound_service_tasks,
)
from engine.diagrams.expressions import ExpressionRejected, check
from engine.diagrams.forms import person_tasks
from engine.diagrams.ids import PROCESS_ID, PROCESS_ID_RULE
from engine.diagrams.schema import schema_problems
from engine.diagrams.specs import DecisionRefParser, WeaverParser, make_serializer
from engine.errors import DiagramInvalid, DiagramProblem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
MAX_DIAGRAM_BYTES = 2_000_000

_serializer = make_serializer()


@dataclass
class LoadedDiagram:
    """A checked diagram: one executable process and its serialized spec."""

    process_id: str
    name: str
    filename: str
    xml: str
    sha256: str
    spec: dict[str, Any]
    calls: list[str] = field(default_factory=list)
    subprocesses: dict[str, Any] = field(default_factory=dict)  # embedded ones, by element id
    decisions: list[str] = field(default_factory=list)  # decision ids its tasks call
    # person tasks by element id: lane, candidate groups, form schema (engine/diagrams/forms)
    forms: dict[str, Any] = field(default_factory=dict)
    # what was accepted but deserves a look (a form file not uploaded)
    warnings: list[DiagramProblem] = field(default_factory=list)


def _xml_parser() -> etree.XMLParser:
    # no entities, no DTD, no network: XXE and billion-laughs inputs stop here
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_xml(data: bytes, filename: str) -> etree._ElementTree:
    """Parse BPMN XML safely; DOCTYPEs are refused outright."""
    if len(data) > MAX_DIAGRAM_BYTES:
        raise DiagramInvalid([DiagramProblem(filename, None, None, "file larger than 2 MB")])
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser=_xml_parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise DiagramInvalid(
            [DiagramProblem(filename, None, line, f"malformed XML: {exc.msg}; fix the XML")]
        ) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise DiagramInvalid(
            [
                DiagramProblem(
                    filename,
                    None,
                    1,
                    "DOCTYPE declarations are not allowed "
                    "(entities and DTDs are refused); remove the <!DOCTYPE …> line",
                )
            ]
        )
    return tree


def _problems_in_expressions(
    tree: etree._ElementTree, filename: str, *, known_operators: set[str], allow_scripts: bool
) -> list[DiagramProblem]:
    problems = unbound_service_tasks(tree, filename, known_operators)
    # conditions and timer expressions (SpiffWorkflow evaluates both): checked here, so a
    # bad one is refused at upload with its element and line, not when a run reaches it
    expressions = [(e, "condition") for e in tree.iterfind(".//bpmn:conditionExpression", NS)]
    for kind in ("timeDuration", "timeDate", "timeCycle"):
        expressions += [(e, f"timer {kind}") for e in tree.iterfind(f".//bpmn:{kind}", NS)]
    for node, label in expressions:
        text = (node.text or "").strip()
        if not text:
            continue
        try:
            check(text, mode="eval")
        except ExpressionRejected as exc:
            why = CONDITION_HINT if is_juel(text) else str(exc)
            problems.append(
                DiagramProblem(
                    filename, owner_id(node), node.sourceline, f"{label} {text!r}: {why}"
                )
            )
    element_ids = {
        e.get("id") for e in tree.iter(etree.Element) if etree.QName(e).namespace == BPMN_NS
    }
    for op in tree.iterfind(".//spiffworkflow:serviceTaskOperator", NS):
        name = op.get("id", "")
        if name not in known_operators:
            problems.append(
                DiagramProblem(
                    filename,
                    owner_id(op),
                    op.sourceline,
                    f"unknown operator {name!r}; known: {', '.join(sorted(known_operators))}",
                )
            )
        for param in op.iterfind(".//spiffworkflow:parameter", NS):
            value = param.get("value", "")
            if param.get("id") in element_ids:
                # SpiffWorkflow indexes parameter ids with element ids; a clash breaks the task
                problems.append(
                    DiagramProblem(
                        filename,
                        owner_id(op),
                        param.sourceline,
                        f"parameter id {param.get('id')!r} is also an element id; rename one",
                    )
                )
            try:
                check(value, mode="eval")
            except ExpressionRejected as exc:
                problems.append(
                    DiagramProblem(
                        filename,
                        owner_id(op),
                        param.sourceline,
                        f"parameter {param.get('id')!r} = {value!r}: {exc}",
                    )
                )
    scripts = [(s, "script") for s in tree.iterfind(".//bpmn:script", NS)]
    scripts += [(s, "preScript") for s in tree.iterfind(".//spiffworkflow:preScript", NS)]
    scripts += [(s, "postScript") for s in tree.iterfind(".//spiffworkflow:postScript", NS)]
    for node, kind in scripts:
        if not allow_scripts:
            problems.append(
                DiagramProblem(
                    filename,
                    owner_id(node),
                    node.sourceline,
                    f"{kind}s are disabled; model the work as a service task, "
                    "or set WEAVERGEN_ALLOW_SCRIPTS=true for trusted diagrams",
                )
            )
            continue
        if kind == "script":  # full Python, run in the sandbox: only its syntax is checked
            try:
                compile(node.text or "", f"script of {owner_id(node)}", "exec")
            except SyntaxError as exc:
                line = node.sourceline + (exc.lineno or 1) - 1
                problems.append(
                    DiagramProblem(filename, owner_id(node), line, f"script: {exc.msg}")
                )
            continue
        try:  # pre- and post-scripts run in the engine: restricted like conditions
            check(node.text or "", mode="exec")
        except ExpressionRejected as exc:
            line = node.sourceline + (exc.line or 1) - 1 if exc.line else node.sourceline
            problems.append(DiagramProblem(filename, owner_id(node), line, f"{kind}: {exc}"))
    return problems


def decision_refs(root: etree._Element) -> list[tuple[etree._Element, str | None]]:
    """Each business rule task with the decision id it calls (None when it names none)."""
    return [
        (task, DecisionRefParser.get_decision_ref(task))
        for task in root.iterfind(".//bpmn:businessRuleTask", NS)
    ]


def load_diagram(
    data: bytes,
    filename: str,
    *,
    known_operators: set[str],
    allow_scripts: bool = False,
    decisions: Mapping[str, tuple[str, str]] | None = None,
    form_files: Mapping[str, bytes] | None = None,
    stored_forms: Mapping[str, Any] | None = None,
) -> LoadedDiagram:
    """Parse and check one diagram file; raise DiagramInvalid with every problem found.
    `decisions` holds the decision tables its business rule tasks may call: decision id ->
    (DMN XML, its sha256), checked already; `form_files` the JSON files its person tasks'
    forms name, by file name (None: not at hand), `stored_forms` the person tasks of the
    diagram's newest stored version (see engine/diagrams/forms.py)."""
    tree = parse_xml(data, filename)
    root = tree.getroot()
    if etree.QName(root).namespace != BPMN_NS or etree.QName(root).localname != "definitions":
        raise DiagramInvalid(
            [
                DiagramProblem(
                    filename, None, root.sourceline, "root element must be bpmn:definitions"
                )
            ]
        )
    in_file = {str(p.get("id")) for p in root.iterfind("bpmn:process", NS)}
    called = {str(c.get("calledElement")) for c in root.iterfind(".//bpmn:callActivity", NS)}
    # the process a run starts: an executable one that no process in this file calls (the
    # others run as its call activities' targets, stored with it)
    processes = [
        p for p in root.iterfind("bpmn:process", NS) if executable(p) and p.get("id") not in called
    ]
    if not processes:
        raise DiagramInvalid(
            [
                DiagramProblem(
                    filename,
                    None,
                    root.sourceline,
                    'no executable process to start: set isExecutable="true" on the process '
                    "to run (one that no call activity in this file calls)",
                )
            ]
        )
    process = processes[0]
    process_id = process.get("id", "")
    if not re.fullmatch(PROCESS_ID, process_id):
        raise DiagramInvalid(
            [
                DiagramProblem(
                    filename,
                    process_id or None,
                    process.sourceline,
                    f"the process needs an id: {PROCESS_ID_RULE}",
                )
            ]
        )
    # every problem at once: ours first (each with its hint), then the parser's (schema,
    # structure) unless it concerns an element already reported
    problems = _problems_in_expressions(
        tree, filename, known_operators=known_operators, allow_scripts=allow_scripts
    )
    used, missing = _decisions_used(root, filename, decisions or {})
    problems += missing
    forms, bad_forms, notices = person_tasks(root, filename, form_files, stored_forms)
    problems += bad_forms
    reported = {p.element_id for p in problems}
    invalid = schema_problems(tree, filename)
    problems += [p for p in invalid if p.element_id is None or p.element_id not in reported]
    parser = WeaverParser(validator=None)  # validated above, with every error
    for decision_id in used:
        xml, _ = (decisions or {})[decision_id]
        parser.add_dmn_xml(parse_xml(xml.encode(), f"{decision_id}.dmn").getroot())
    if not invalid:
        try:
            parser.add_bpmn_xml(tree, filename)
        except ValidationException as exc:
            found = _problem_from(exc, filename, tree)
            if found.element_id is None or found.element_id not in reported:
                problems.append(found)
    if problems:
        raise DiagramInvalid(problems)
    calls = sorted(called - in_file)  # other diagrams, pinned when a run starts
    try:
        spec = parser.get_spec(process_id)
        # embedded and event subprocesses are specs of their own (called diagrams are not:
        # they are pinned by process id when a run starts)
        found = parser.get_subprocess_specs(process_id, require_call_activity_specs=False)
    except (ValidationException, SpiffWorkflowException) as exc:
        raise DiagramInvalid([_problem_from(exc, filename, tree)]) from None
    embedded = {
        sid: _serializer.to_dict(sub)
        for sid, sub in found.items()
        if sub is not None and sid not in calls
    }  # embedded and event subprocesses, and the processes of this file it calls
    xml = etree.tostring(tree, encoding="unicode")
    digest = hashlib.sha256(data)
    for decision_id in used:  # the same file built with another decision table differs
        digest.update(f"\0{decision_id}:{(decisions or {})[decision_id][1]}".encode())
    for name in sorted(form_files or {}):  # and so does one with other form files
        if name.encode() in data:  # (those it names: shipped ones are offered to every file)
            digest.update(f"\0{name}:".encode() + (form_files or {})[name])
    return LoadedDiagram(
        process_id=process_id,
        name=process.get("name") or process_id,
        filename=filename,
        xml=xml,
        sha256=digest.hexdigest(),
        decisions=used,
        forms=forms,
        warnings=notices,
        spec=_serializer.to_dict(spec),
        calls=calls,
        subprocesses=embedded,
    )


def _decisions_used(
    root: etree._Element, filename: str, decisions: Mapping[str, tuple[str, str]]
) -> tuple[list[str], list[DiagramProblem]]:
    """The decision ids the business rule tasks call that are at hand, and a problem for
    each task whose decision is not."""
    used: set[str] = set()
    problems = []
    for task, ref in decision_refs(root):
        if ref is None:
            message = (
                "business rule task names no decision: set its decision id "
                "(spiffworkflow:calledDecisionId, or camunda:decisionRef)"
            )
        elif ref not in decisions:
            message = (
                f"business rule task calls decision {ref!r}, which is not uploaded: upload its "
                ".dmn file with the diagram, or first (POST /api/decisions)"
            )
        else:
            used.add(ref)
            continue
        problems.append(DiagramProblem(filename, task.get("id"), task.sourceline, message))
    return sorted(used), problems


def _problem_from(exc: Exception, filename: str, tree: etree._ElementTree) -> DiagramProblem:
    element_id = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or None
    if element_id and not line:
        found = tree.xpath("//*[@id=$id]", id=element_id)
        if found:
            line = found[0].sourceline
    message = str(exc.args[0]) if exc.args else str(exc)
    return DiagramProblem(filename, element_id, int(line) if line else None, message)
