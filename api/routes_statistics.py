"""HTTP route for the diagram page's heatmap: per-element statistics of a diagram across runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from api.deps import require
from engine.diagrams.ids import PROCESS_ID
from engine.learning.statistics import DiagramStatistics, diagram_statistics

router = APIRouter(prefix="/api", tags=["diagrams"], dependencies=[Depends(require("viewer"))])

MAX_HOURS = 24 * 366  # a year (and a day)


@router.get(
    "/diagrams/{diagram_id}/statistics",
    responses={404: {"description": "no such diagram, or no such version of it"}},
)
async def diagram_statistics_route(
    request: Request,
    diagram_id: Annotated[
        str, Path(pattern=f"^{PROCESS_ID}$", description="the process id", examples=["quick"])
    ],
    version: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="only runs of this version number (default: all)"),
    ] = None,
    hours: Annotated[
        int, Query(ge=1, le=MAX_HOURS, description="the time window: the last this many hours")
    ] = 24 * 7,
) -> DiagramStatistics:
    """Per element of the diagram: runs that reached it, visits, completed, failed, cancelled,
    incidents, mean and p95 duration, tokens and model time over the visits that ended in the
    window (from the learning store), steps active there now and their open incidents (from
    the run database); how often each outgoing flow of its gateways was taken."""
    engine = request.app.state.engine
    now = datetime.now(UTC)
    return await diagram_statistics(
        engine.db,
        engine.learning.outcomes,
        diagram_id,
        since=now - timedelta(hours=hours),
        until=now,
        version=version,
    )
