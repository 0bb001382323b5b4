"""Diagram loading in-process: every shipped diagram checks; problems carry element and line."""

from __future__ import annotations

import pytest

from engine.diagrams.loading import load_diagram
from engine.errors import DiagramInvalid
from engine.ops import OPERATORS
from tests.servers import ROOT

PATTERNS = ["orchestrate", "quick", "standard", "bug_fix", "migration"]


@pytest.mark.parametrize("name", PATTERNS)
def test_shipped_diagrams_load_with_di(name: str) -> None:
    data = (ROOT / "bpmn" / f"{name}.bpmn").read_bytes()
    loaded = load_diagram(data, f"{name}.bpmn", known_operators=OPERATORS.names())
    assert loaded.process_id == name
    assert b"bpmndi:BPMNShape" in data and b"bpmndi:BPMNEdge" in data
    if name == "orchestrate":
        assert loaded.calls == ["bug_fix", "migration", "quick", "standard"]


def _with(element: str) -> str:
    quick = (ROOT / "bpmn" / "quick.bpmn").read_text()
    return quick.replace("</bpmn:process>", element + "</bpmn:process>", 1)


def _only_problem(bad: str, element_id: str, at: str) -> str:
    """The one problem loading `bad` (scripts allowed) reports: on `element_id`, at the line
    of `at`; its message."""
    with pytest.raises(DiagramInvalid) as info:
        load_diagram(bad.encode(), "q.bpmn", known_operators=OPERATORS.names(), allow_scripts=True)
    [problem] = info.value.problems
    assert problem.element_id == element_id
    assert problem.line == bad[: bad.index(at)].count("\n") + 1
    return problem.message


def test_script_task_is_full_python_but_its_syntax_is_checked_at_upload() -> None:
    fine = _with(
        '<bpmn:scriptTask id="calc"><bpmn:script>import math\ndef sq(x):\n    return x * x\n'
        "total = sum(sq(i) for i in range(10)) % 7</bpmn:script></bpmn:scriptTask>"
    )
    load_diagram(fine.encode(), "q.bpmn", known_operators=OPERATORS.names(), allow_scripts=True)
    bad = _with(
        '<bpmn:scriptTask id="calc"><bpmn:script>x = 1\nif x\n    y = 2'
        "</bpmn:script></bpmn:scriptTask>"
    )
    assert _only_problem(bad, "calc", "if x").startswith("script: ")


def test_prescript_runs_in_the_engine_so_imports_are_rejected_even_when_allowed() -> None:
    bad = _with(
        '<bpmn:userTask id="ask"><bpmn:extensionElements><spiffworkflow:preScript>x = 1\n'
        "import os</spiffworkflow:preScript></bpmn:extensionElements></bpmn:userTask>"
    )
    assert "imports are not allowed (import os)" in _only_problem(bad, "ask", "import os")


def test_parameter_id_clashing_with_element_id_is_named() -> None:
    quick = (ROOT / "bpmn" / "quick.bpmn").read_text()
    bad = quick.replace(
        '<spiffworkflow:parameter id="files"', '<spiffworkflow:parameter id="implement"', 1
    )
    with pytest.raises(DiagramInvalid, match="also an element id"):
        load_diagram(bad.encode(), "q.bpmn", known_operators=OPERATORS.names())


def test_every_schema_error_is_reported_on_its_element() -> None:
    bad = _with("").replace(
        "<spiffworkflow:parameters>", "<spiffworkflow:nonsense/><spiffworkflow:parameters>", 1
    )
    bad = bad.replace('<bpmn:endEvent id="', '<bpmn:endEvent bogus="1" id="', 1)
    with pytest.raises(DiagramInvalid) as info:
        load_diagram(bad.encode(), "q.bpmn", known_operators=OPERATORS.names())
    problems = info.value.problems
    assert len(problems) == 2, problems
    nonsense, bogus = sorted(problems, key=lambda p: p.line or 0)
    assert nonsense.line == bad[: bad.index("<spiffworkflow:nonsense")].count("\n") + 1
    assert nonsense.element_id == "remember" and "spiffworkflow:nonsense" in nonsense.message
    assert bogus.element_id and bogus.element_id in bad[bad.index('bogus="1"') :][:80]
    assert "schema: " in bogus.message and "bogus" in bogus.message
