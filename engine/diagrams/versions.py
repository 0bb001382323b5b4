"""A diagram's versions over time: compare two of them, retire one.

Retiring is for a version nobody should start any more (a mistake, a superseded process):
new runs pin the newest version that is not retired; runs that pinned it go on, so it can
be retired only when no unfinished run pins it. A shipped pattern keeps at least one
version that runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from engine.diagrams.catalog import DiagramCatalog
from engine.diagrams.compare import Comparison, compare
from engine.errors import Conflict, NotFound
from engine.runs.requests import FINISHED_STATUSES
from engine.tables import diagram_versions, runs

FINISHED = FINISHED_STATUSES
SHOWN_RUNS = 5


async def comparison(catalog: DiagramCatalog, diagram_id: str, base: int, head: int) -> Comparison:
    """What changed from version `base` to version `head` of a diagram."""
    async with catalog.db.connect() as conn:
        rows = await conn.execute(
            select(diagram_versions.c.version, diagram_versions.c.xml).where(
                diagram_versions.c.diagram_id == diagram_id,
                diagram_versions.c.version.in_([base, head]),
            )
        )
        xml = dict(rows.all())
    for version in (base, head):
        if version not in xml:
            raise NotFound(f"diagram {diagram_id!r} has no version {version}")
    return compare(diagram_id, (base, xml[base]), (head, xml[head]))


async def retire(catalog: DiagramCatalog, diagram_id: str, version: int, by: str) -> dict[str, Any]:
    """Retire one version; Conflict while an unfinished run pins it, or when it is the last
    version of a shipped pattern that runs."""
    async with catalog.db.begin() as conn:
        found = await conn.execute(
            select(diagram_versions)
            .where(diagram_versions.c.diagram_id == diagram_id)
            .with_for_update()
        )
        rows = {r["version"]: r for r in found.mappings().all()}
        row = rows.get(version)
        if row is None:
            raise NotFound(f"diagram {diagram_id!r} has no version {version}")
        if row["retired_at"] is not None:
            return {"diagram_id": diagram_id, "version": version, "retired": True}
        active = [r for r in rows.values() if r["retired_at"] is None]
        if row["source"] == "bpmn-dir" and len(active) == 1:
            raise Conflict(
                f"version {version} is the only runnable version of the shipped pattern "
                f"{diagram_id!r}; upload a new version first"
            )
        pinning = (
            await conn.execute(
                select(runs.c.id)
                .where(
                    runs.c.status.notin_(FINISHED),
                    runs.c.spec_versions[diagram_id].as_integer() == row["id"],
                )
                .limit(SHOWN_RUNS + 1)
            )
        ).scalars()
        waiting = [str(r) for r in pinning]
        if waiting:
            shown = ", ".join(waiting[:SHOWN_RUNS]) + (" …" if len(waiting) > SHOWN_RUNS else "")
            raise Conflict(
                f"version {version} of diagram {diagram_id!r} is pinned by unfinished runs "
                f"({shown}); let them finish (or cancel them) before retiring it"
            )
        await conn.execute(
            update(diagram_versions)
            .where(diagram_versions.c.id == row["id"])
            .values(retired_at=datetime.now(UTC), retired_by=by)
        )
    catalog.forget_pins()
    return {"diagram_id": diagram_id, "version": version, "retired": True}
