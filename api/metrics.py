"""`GET /metrics`: Prometheus' text format, from the database at each scrape.

Workers are separate processes (often on other machines), so counters kept in memory would
each tell part of the story; the run database already holds the whole of it. A scrape
reads it in one round trip of aggregate queries: runs by status, steps per element
(durations, failures), the queue (depth by status, the oldest waiting job's age), model
calls per group and deployment (from the learning store's step outcomes, when PostgreSQL
keeps them), sandbox limit hits, and this process's learning records buffered and lost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text

from api.deps import require
from api.health import QUEUE_AGE
from engine.container import Engine

router = APIRouter(tags=["meta"], dependencies=[Depends(require("viewer"))])

_QUERIES = {
    "runs": "SELECT status, count(*) FROM runs GROUP BY status",
    "steps": (
        "SELECT process_id, element_id, count(*), coalesce(sum(duration_ms), 0) / 1000.0, "
        "count(*) FILTER (WHERE state IN ('failed', 'incident')) "
        "FROM steps WHERE finished_at IS NOT NULL GROUP BY process_id, element_id"
    ),
    "queue": "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status",
    "models": (
        "SELECT model_group, deployment, count(*), sum(duration_ms) / 1000.0, "
        "count(*) FILTER (WHERE NOT success) FROM learning_steps "
        "WHERE model_group <> '' GROUP BY model_group, deployment"
    ),
    "limits": (
        "SELECT split_part(hit, ': ', 2), count(*) FROM steps, "
        "jsonb_array_elements_text(CASE WHEN jsonb_typeof(result->'limit_hits') = 'array' "
        "THEN result->'limit_hits' ELSE '[]' END) AS hit GROUP BY 1"
    ),
}


async def _read(engine: Engine) -> dict[str, Sequence[Any]]:
    async with engine.db.connect() as conn:
        found = {name: (await conn.execute(text(sql))).all() for name, sql in _QUERIES.items()}
        found["age"] = (await conn.execute(QUEUE_AGE)).all()
    return found


def _families(found: dict[str, Sequence[Any]], engine: Engine) -> Iterator[Metric]:
    runs = GaugeMetricFamily("weavergen_runs", "Runs by status", labels=["status"])
    for status, n in found["runs"]:
        runs.add_metric([status], n)
    yield runs
    durations = SummaryMetricFamily(
        "weavergen_step_duration_seconds",
        "Finished steps and their time, per diagram element",
        labels=["process", "element"],
    )
    failures = CounterMetricFamily(
        "weavergen_step_failures",
        "Steps that failed or became incidents",
        labels=["process", "element"],
    )
    for process, element, n, seconds, failed in found["steps"]:
        durations.add_metric([process, element], n, float(seconds))
        failures.add_metric([process, element], failed)
    yield durations
    yield failures
    jobs = GaugeMetricFamily(
        "weavergen_queue_jobs", "Jobs in the queue by status", labels=["status"]
    )
    for status, n in found["queue"]:
        jobs.add_metric([status], n)
    yield jobs
    waiting, age = found["age"][0]
    yield GaugeMetricFamily(
        "weavergen_queue_oldest_waiting_seconds", "Age of the oldest job due", value=float(age)
    )
    calls = SummaryMetricFamily(
        "weavergen_model_call_seconds",
        "Model calls and their time, per model group and deployment",
        labels=["group", "deployment"],
    )
    errors = CounterMetricFamily(
        "weavergen_model_call_errors", "Model calls that failed", labels=["group", "deployment"]
    )
    for group, deployment, n, seconds, failed in found["models"]:
        calls.add_metric([group, deployment], n, float(seconds or 0))
        errors.add_metric([group, deployment], failed)
    yield calls
    yield errors
    limits = CounterMetricFamily(
        "weavergen_sandbox_limit_hits",
        "Validation stages a sandbox limit stopped",
        labels=["limit"],
    )
    for limit, n in found["limits"]:
        limits.add_metric([limit], n)
    yield limits
    dropped = CounterMetricFamily(
        "weavergen_learning_records_dropped",
        "Learning records this API process lost",
        labels=["backend"],
    )
    buffered = GaugeMetricFamily(
        "weavergen_learning_records_buffered",
        "Learning records waiting to be written",
        labels=["backend"],
    )
    for store in engine.learning.health():
        dropped.add_metric([store.backend], store.dropped)
        buffered.add_metric([store.backend], store.buffered)
    yield dropped
    yield buffered


class _Snapshot:
    """A prometheus-client collector over what one scrape read."""

    def __init__(self, found: dict[str, Sequence[Any]], engine: Engine) -> None:
        self.found = found
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        return _families(self.found, self.engine)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Runs, steps, queue, model calls, sandbox limits and learning in Prometheus' format."""
    engine: Engine = request.app.state.engine
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await _read(engine), engine))  # type: ignore[arg-type]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
