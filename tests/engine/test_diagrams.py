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


def test_script_import_rejected_even_when_scripts_allowed() -> None:
    quick = (ROOT / "bpmn" / "quick.bpmn").read_text()
    script = (
        '<bpmn:scriptTask id="evil" name="Evil"><bpmn:script>x = 1\nimport os'
        "</bpmn:script></bpmn:scriptTask>"
    )
    bad = quick.replace("</bpmn:process>", script + "</bpmn:process>", 1)
    with pytest.raises(DiagramInvalid) as info:
        load_diagram(bad.encode(), "q.bpmn", known_operators=OPERATORS.names(), allow_scripts=True)
    [problem] = info.value.problems
    assert problem.element_id == "evil"
    assert "imports are not allowed (import os)" in problem.message
    assert problem.line == bad[: bad.index("import os")].count("\n") + 1


def test_parameter_id_clashing_with_element_id_is_named() -> None:
    quick = (ROOT / "bpmn" / "quick.bpmn").read_text()
    bad = quick.replace(
        '<spiffworkflow:parameter id="files"', '<spiffworkflow:parameter id="implement"', 1
    )
    with pytest.raises(DiagramInvalid, match="also an element id"):
        load_diagram(bad.encode(), "q.bpmn", known_operators=OPERATORS.names())
