"""Element visits: a finished run's steps as per-element learning records (`ElementVisit`),
and the sequence flows its diverging gateways took (`FlowTaken`), for the statistics of a
diagram across runs (`OutcomeStore.element_stats`, the heatmap on the diagram page).

Every BPMN task, event, gateway and call activity of a run is a row of the `steps` table;
each row is one visit of its element, except the row of a parallel multi-instance task
itself (its instances are the visits). A row's `process_id` is the process it ran in: a
diagram the run pinned, or an embedded subprocess of one (its element id).

Which flow a gateway took is read from the rows: the kernel writes every step a transaction
changed with that transaction's one timestamp, and a gateway completes in the transaction
that makes its successors ready. So the flows taken are the gateway's outgoing flows whose
target has a row in the same process that started exactly when the gateway finished (an
event-based gateway arms every target: the ones that were cancelled were not taken).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.learning import ElementVisit, FlowTaken
from engine.diagrams.loading import BPMN_NS, parse_xml


@dataclass(frozen=True)
class PinnedDiagram:
    """What the visits need of one stored diagram version."""

    diagram_id: str
    version: int
    processes: frozenset[str]  # its process id and the element ids of its embedded subprocesses
    # source element id -> its outgoing sequence flows as (flow id, target element id)
    outgoing: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


def pinned_diagram(
    diagram_id: str, version: int, xml: str, subprocesses: Iterable[str]
) -> PinnedDiagram:
    """A stored version's identity, processes and sequence flows (from its XML)."""
    tree = parse_xml(xml.encode(), f"{diagram_id} v{version}")
    outgoing: dict[str, list[tuple[str, str]]] = {}
    for flow in tree.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        source, target, flow_id = flow.get("sourceRef"), flow.get("targetRef"), flow.get("id")
        if source and target and flow_id:
            outgoing.setdefault(source, []).append((flow_id, target))
    return PinnedDiagram(
        diagram_id,
        version,
        frozenset({diagram_id, *subprocesses}),
        {source: tuple(flows) for source, flows in outgoing.items()},
    )


def _outcome(state: str, run_status: str) -> str:
    if state == "completed":
        return "completed"
    if state == "error":
        return "failed"
    if state == "cancelled":
        return "cancelled"
    # still open when the run ended: the run failed there, or finished without it
    return "failed" if run_status == "failed" else "cancelled"


def _ms(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() * 1000)


def element_visits(
    run: Mapping[Any, Any],
    steps: Sequence[Mapping[Any, Any]],
    incidents: Mapping[Any, int],
    diagrams: list[PinnedDiagram],
) -> tuple[list[ElementVisit], list[FlowTaken]]:
    """The visits and flows taken of a finished run (`run`: its row; `steps`: its step
    rows; `incidents`: how many incidents each task id had; `diagrams`: the versions it
    pinned). Steps of a process no pinned version holds are left out."""
    where = {process: d for d in diagrams for process in d.processes}
    ended: datetime = run["finished_at"] or max(
        (s["finished_at"] or s["started_at"] for s in steps), default=datetime.now(UTC)
    )
    run_id = str(run["id"])
    visits: list[ElementVisit] = []
    flows: list[FlowTaken] = []
    # (process, element, start) -> the states of the steps that started then
    started: dict[tuple[str, str, datetime], list[str]] = {}
    for s in steps:
        started.setdefault((s["process_id"], s["element_id"], s["started_at"]), []).append(
            s["state"]
        )
    for s in steps:
        diagram = where.get(s["process_id"])
        if diagram is None or s["kind"].endswith("MultiInstanceTask"):
            continue
        tokens_in, tokens_out = int(s["tokens_in"] or 0), int(s["tokens_out"] or 0)
        at = s["finished_at"] or ended
        visits.append(
            ElementVisit(
                run_id=run_id,
                task_id=str(s["task_id"]),
                diagram_id=diagram.diagram_id,
                diagram_version=diagram.version,
                element_id=s["element_id"],
                kind=s["kind"],
                outcome=_outcome(s["state"], run["status"]),
                incidents=incidents.get(s["task_id"], 0),
                duration_ms=_ms(s["started_at"], at),
                # the operator's time, when it called a model (it used tokens)
                model_ms=s["duration_ms"] if tokens_in + tokens_out else None,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                at=at,
            )
        )
        outgoing = diagram.outgoing.get(s["element_id"], ())
        if not s["kind"].endswith("Gateway") or len(outgoing) < 2 or s["finished_at"] is None:
            continue
        for flow_id, target in outgoing:
            states = started.get((s["process_id"], target, s["finished_at"]), [])
            if s["kind"] == "EventBasedGateway":
                states = [state for state in states if state != "cancelled"]
            if states:
                flows.append(
                    FlowTaken(
                        run_id=run_id,
                        diagram_id=diagram.diagram_id,
                        diagram_version=diagram.version,
                        gateway=s["element_id"],
                        flow=flow_id,
                        at=s["finished_at"],
                    )
                )
    return visits, flows
