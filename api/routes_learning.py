"""HTTP routes for the dashboard's learning panel: what the learning store knows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from adapters.learning import LearningUnavailable
from api.deps import Queries, require

router = APIRouter(prefix="/api", tags=["learning"], dependencies=[Depends(require("viewer"))])


@router.get("/learning/summary")
async def learning_summary(
    request: Request, queries: Queries, hours: int = Query(24, ge=1, le=24 * 30)
) -> dict[str, Any]:
    """Success rate per pattern over time, decisions taken and model-group latency."""
    learning = request.app.state.engine.learning
    since = datetime.now(UTC) - timedelta(hours=hours)
    bucket_s = max(60, hours * 3600 // 24)  # about 24 points whatever the window
    out: dict[str, Any] = {
        "since": since.isoformat(),
        "bucket_s": bucket_s,
        "decisions": await queries.decision_counts(since),
        "stores": [h.model_dump() for h in learning.health()],
        "unavailable": None,
    }
    try:
        series = await learning.outcomes.run_series(since, bucket_s)
        latency = await learning.outcomes.model_latency(since)
    except LearningUnavailable as exc:
        out |= {"pattern_series": [], "latency": [], "unavailable": str(exc)}
        return out
    out["pattern_series"] = [p.model_dump(mode="json") for p in series]
    out["latency"] = [s.model_dump(mode="json") for s in latency]
    return out
