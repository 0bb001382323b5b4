"""`GET /health`: is this server able to run work, and if not, which part is not.

200 only when the core is healthy (the database answers; the workers this server keeps are
alive), 503 otherwise; the JSON body says, per part, what was seen. The queue, the learning
stores and the model servers are reported but do not make the server unhealthy: runs wait
for them, nothing is lost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from engine.container import Engine

router = APIRouter(tags=["meta"])
DB_TIMEOUT_S = 2.0
MODELS_TTL_S = 15.0  # model servers are asked at most this often

QUEUE_AGE = text(
    """
    SELECT count(*),
           coalesce(extract(epoch FROM now() - min(greatest(e.at, j.scheduled_at))), 0)
    FROM procrastinate_jobs j
    JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
    WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
    """
)
_HEARTBEATS = text(
    "SELECT count(*), extract(epoch FROM now() - max(last_heartbeat)) FROM procrastinate_workers"
)


class Check(BaseModel):
    """One part of the server: whether it is fine, and what was seen."""

    ok: bool
    detail: str
    figures: dict[str, Any] = {}


class HealthReport(BaseModel):
    """`status` is "ok" when every core part is; `checks` names each part."""

    status: str
    checks: dict[str, Check]


class Workers(Protocol):
    """The worker processes this server keeps (`WorkerSupervisor`)."""

    count: int

    def alive(self) -> int: ...


async def _database(engine: Engine) -> tuple[Check, Check, Check]:
    """The database, the queue and the workers' heartbeats: one connection, two queries."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(DB_TIMEOUT_S), engine.db.connect() as conn:
            waiting, age = (await conn.execute(QUEUE_AGE)).one()
            beating, last = (await conn.execute(_HEARTBEATS)).one()
    except Exception as exc:  # any failure to answer is the finding
        reason = "no answer in time" if isinstance(exc, TimeoutError) else f"{exc}"[:300]
        down = Check(ok=False, detail=f"not answering: {reason}")
        unknown = Check(ok=False, detail="unknown while the database is down")
        return down, unknown, unknown
    ms = (time.perf_counter() - started) * 1000
    database = Check(ok=True, detail="answering", figures={"ms": round(ms, 1)})
    queue = Check(
        ok=True,
        detail=f"{waiting} job(s) waiting, the oldest for {float(age):.0f} s",
        figures={"waiting": waiting, "oldest_s": round(float(age), 1)},
    )
    last_s = None if last is None else round(float(last), 1)
    heartbeats = Check(
        ok=True,
        detail=f"{beating} worker(s) registered, last heartbeat {last_s} s ago",
        figures={"registered": beating, "last_heartbeat_s": last_s},
    )
    return database, queue, heartbeats


def _workers(supervised: Workers | None, heartbeats: Check) -> Check:
    """The workers this server keeps must be alive; with none kept (`WEAVERGEN_WORKERS=0`),
    workers elsewhere are reported by their heartbeats."""
    if supervised is None or supervised.count == 0:
        return heartbeats.model_copy(update={"detail": "none kept here; " + heartbeats.detail})
    alive = supervised.alive()
    return Check(
        ok=alive > 0,
        detail=f"{alive} of {supervised.count} worker process(es) alive; {heartbeats.detail}",
        figures={**heartbeats.figures, "alive": alive, "kept": supervised.count},
    )


def _learning(engine: Engine) -> Check:
    stores = engine.learning.health()
    return Check(
        ok=all(s.healthy for s in stores),
        detail="; ".join(
            f"{s.backend}: {'ok' if s.healthy else s.last_error}"
            f" ({s.buffered} buffered, {s.dropped} lost)"
            for s in stores
        ),
        figures={s.backend: s.model_dump() for s in stores},
    )


class ModelServers:
    """Whether each model server answers `GET {api_base}/models`, asked at most every 15 s."""

    def __init__(self) -> None:
        self._seen: Check | None = None
        self._at = 0.0

    async def check(self, engine: Engine) -> Check:
        if self._seen is not None and time.monotonic() - self._at < MODELS_TTL_S:
            return self._seen
        groups = engine.models.config.groups.values()
        bases = sorted({d.api_base for g in groups for d in g.deployments})
        async with httpx.AsyncClient(timeout=1.0) as client:
            answers = await asyncio.gather(
                *(client.get(f"{b.rstrip('/')}/models") for b in bases), return_exceptions=True
            )
        down = [b for b, a in zip(bases, answers, strict=True) if isinstance(a, BaseException)]
        seen = f"not answering: {', '.join(down)}" if down else f"{len(bases)} answering"
        self._seen = Check(
            ok=not down,
            detail=f"groups {', '.join(engine.models.groups())}; servers {seen}",
            figures={"servers": len(bases), "down": down},
        )
        self._at = time.monotonic()
        return self._seen


@router.get(
    "/health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "a core part is not healthy"}},
)
async def health(request: Request) -> JSONResponse:
    """Database, queue, workers, learning stores and model servers; 200 when the core
    (database and workers) is healthy, else 503 naming the part."""
    engine: Engine = request.app.state.engine
    database, queue, heartbeats = await _database(engine)
    checks = {
        "database": database,
        "queue": queue,
        "workers": _workers(getattr(request.app.state, "workers", None), heartbeats),
        "learning": _learning(engine),
        "models": await request.app.state.model_servers.check(engine),
    }
    healthy = checks["database"].ok and checks["workers"].ok
    report = HealthReport(status="ok" if healthy else "unhealthy", checks=checks)
    return JSONResponse(report.model_dump(), status_code=200 if healthy else 503)
