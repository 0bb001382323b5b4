"""Comparing two versions of a diagram element by element: which BPMN elements (by id) were
added, removed or changed, and what changed in each (attributes, or its content: conditions,
scripts, extension elements). The drawing (bpmndi) is left out: moving a shape is no change
to what runs."""

from __future__ import annotations

import copy

from lxml import etree
from pydantic import BaseModel

from engine.diagrams.loading import BPMN_NS, parse_xml


class ElementRef(BaseModel):
    """One BPMN element of a diagram."""

    id: str
    type: str  # the BPMN tag, e.g. serviceTask
    name: str | None = None


class ChangedElement(ElementRef):
    """An element in both versions that differs; `what` lists the attributes that changed,
    and `content` when what it holds (conditions, scripts, extension elements) did."""

    what: list[str]


class Comparison(BaseModel):
    """What turns version `base` of a diagram into version `head`."""

    diagram_id: str
    base: int
    head: int
    added: list[ElementRef]
    removed: list[ElementRef]
    changed: list[ChangedElement]


def compare(diagram_id: str, base: tuple[int, str], head: tuple[int, str]) -> Comparison:
    """Compare two stored versions, each given as (version number, XML)."""
    before, after = _elements(base[1]), _elements(head[1])
    changed = []
    for element_id in sorted(before.keys() & after.keys()):
        what = _differences(before[element_id], after[element_id])
        if what:
            changed.append(ChangedElement(**_ref(after[element_id]).model_dump(), what=what))
    return Comparison(
        diagram_id=diagram_id,
        base=base[0],
        head=head[0],
        added=[_ref(after[i]) for i in sorted(after.keys() - before.keys())],
        removed=[_ref(before[i]) for i in sorted(before.keys() - after.keys())],
        changed=changed,
    )


def _elements(xml: str) -> dict[str, etree._Element]:
    tree = parse_xml(xml.encode(), "stored diagram")
    return {str(e.get("id")): e for e in tree.iter() if _is_bpmn_element(e)}


def _is_bpmn_element(node: etree._Element) -> bool:
    return bool(
        isinstance(node.tag, str) and node.get("id") and etree.QName(node).namespace == BPMN_NS
    )


def _ref(element: etree._Element) -> ElementRef:
    return ElementRef(
        id=str(element.get("id")), type=etree.QName(element).localname, name=element.get("name")
    )


def _differences(a: etree._Element, b: etree._Element) -> list[str]:
    what = [] if a.tag == b.tag else ["type"]
    names = sorted(set(a.attrib) | set(b.attrib))
    what += [_local(n) for n in names if a.get(n) != b.get(n)]
    if _content(a) != _content(b):
        what.append("content")
    return what


def _local(name: str) -> str:
    return etree.QName(name).localname if name.startswith("{") else name


def _content(element: etree._Element) -> bytes:
    """What the element holds, without its attributes and without the BPMN elements nested
    in it (each compared on its own), canonical so that formatting does not count."""
    inner = copy.deepcopy(element)
    inner.attrib.clear()
    for child in list(inner.iter())[1:]:
        if _is_bpmn_element(child):
            parent = child.getparent()
            if parent is not None:
                parent.remove(child)
    for node in inner.iter():
        if node.text is not None:
            node.text = node.text.strip() or None
        if node.tail is not None:
            node.tail = node.tail.strip() or None
    return etree.tostring(inner, method="c14n")
