"""Per-element statistics of a diagram across runs, as the diagram page's heatmap shows them
(`GET /api/diagrams/{id}/statistics`): what the outcome store learned from finished runs
(`OutcomeStore.element_stats`), and what unfinished runs are doing at each element now (read
from the run database: steps waiting there, incidents open there)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.learning import (
    ElementStats,
    FlowStats,
    LearningUnavailable,
    OutcomeStore,
)
from engine.errors import NotFound
from engine.tables import diagram_versions, diagrams, incidents, runs, steps

UNFINISHED_RUNS = ("running", "waiting", "incident")
OPEN_STEPS = ("ready", "started", "waiting")


class ElementStatistics(ElementStats):
    """One element: its visits in finished runs (`ElementStats`) and the unfinished runs at
    it now."""

    active: int = Field(0, description="steps open at this element in unfinished runs now")
    open_incidents: int = Field(0, description="of those, the steps with an open incident")


class DiagramStatistics(BaseModel):
    """Per-element statistics of one diagram (of one version, or of all of them)."""

    diagram_id: str
    version: int | None = Field(description="the version number; null: every version")
    since: datetime = Field(description="visits that ended at or after this time count")
    until: datetime = Field(description="when this answer was made")
    backend: str = Field(description="the learning store that answered, e.g. postgres")
    elements: list[ElementStatistics] = Field(description="sorted by element id")
    flows: list[FlowStats] = Field(description="outgoing flows of diverging gateways taken")
    unavailable: str | None = Field(
        None, description="why the learning store could not answer (only `active` is shown)"
    )


async def diagram_statistics(
    db: AsyncEngine,
    outcomes: OutcomeStore,
    diagram_id: str,
    since: datetime,
    until: datetime,
    version: int | None = None,
) -> DiagramStatistics:
    """Statistics of `diagram_id` (of `version` when given) over visits that ended at or after
    `since`; `until` is when the answer is made (visits recorded with a later clock count
    too). NotFound for a diagram or version that does not exist."""
    active = await _active(db, diagram_id, version)
    unavailable = None
    try:
        learned = await outcomes.element_stats(diagram_id, since, None, version)
        elements, flows = learned.elements, learned.flows
    except LearningUnavailable as exc:
        elements, flows, unavailable = [], [], str(exc)
    merged = {
        e.element_id: ElementStatistics(**e.model_dump(exclude={"failure_rate"})) for e in elements
    }
    for element_id, (open_steps, open_incidents) in active.items():
        stats = merged.setdefault(element_id, ElementStatistics(element_id=element_id))
        stats.active, stats.open_incidents = open_steps, open_incidents
    return DiagramStatistics(
        diagram_id=diagram_id,
        version=version,
        since=since,
        until=until,
        backend=outcomes.health().backend,
        elements=[merged[k] for k in sorted(merged)],
        flows=flows,
        unavailable=unavailable,
    )


async def _active(
    db: AsyncEngine, diagram_id: str, version: int | None
) -> dict[str, tuple[int, int]]:
    """(open steps, of them with an open incident) per element of the diagram, in unfinished
    runs that pinned it (that version of it, when given)."""
    dv = diagram_versions.c
    async with db.connect() as conn:
        known = await conn.execute(select(diagrams.c.id).where(diagrams.c.id == diagram_id))
        if known.first() is None:
            raise NotFound(f"diagram {diagram_id!r} does not exist")
        versions = select(dv.id).where(dv.diagram_id == diagram_id)
        if version is not None:
            versions = versions.where(dv.version == version)
            version_id = (await conn.execute(versions)).scalar()
            if version_id is None:
                raise NotFound(f"diagram {diagram_id!r} has no version {version}")
        # the diagram's process and the embedded subprocesses of its versions
        subprocesses = select(func.json_object_keys(dv.subprocesses)).where(
            dv.diagram_id == diagram_id
        )
        processes = {diagram_id, *(await conn.execute(subprocesses)).scalars()}
        has_open_incident = exists().where(
            and_(incidents.c.task_id == steps.c.task_id, incidents.c.status == "open")
        )
        query = (
            select(
                steps.c.element_id,
                func.count(),
                func.count().filter(has_open_incident),
            )
            .select_from(steps.join(runs, runs.c.id == steps.c.run_id))
            .where(
                runs.c.status.in_(UNFINISHED_RUNS),
                steps.c.state.in_(OPEN_STEPS),
                steps.c.process_id.in_(sorted(processes)),
                steps.c.kind.not_like("%MultiInstanceTask"),
            )
            .group_by(steps.c.element_id)
        )
        if version is not None:
            query = query.where(runs.c.spec_versions[diagram_id].astext == str(version_id))
        found = await conn.execute(query)
        return {element_id: (int(n), int(stuck)) for element_id, n, stuck in found}
