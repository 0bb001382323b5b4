"""`python -m bench statistics`: how fast `GET /api/diagrams/{id}/statistics` answers over
many recorded steps, on the PostgreSQL learning store (the embedded default).

A real `weavergen serve` on its own embedded PostgreSQL (and the stand-in model, which the
bench does not use). `--steps` element visits of `quick` are recorded as finished runs leave
them (ten elements a run, the improve loop in every third, flows taken by its two gateways),
beside as many visits of another diagram that the query must skip; then `--requests` GETs one
after another over one keep-alive connection, timed at the client. The last line is
`statistics p50_ms=… p95_ms=… max_ms=… steps=… flows=… elements=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from adapters.database import create_engine
from adapters.learning import ElementVisit, FlowTaken
from adapters.learning.postgres import PostgresLearningStore
from bench.serving import served

# one quick run as its steps go: (element, kind, typical ms); the loop repeats the middle
START = [("start", "StartEvent", 0.0), ("how_to_generate", "ExclusiveGateway", 0.0)]
LOOP = [
    ("implement", "ServiceTask", 2500.0),
    ("validate", "ServiceTask", 400.0),
    ("decide_next", "ServiceTask", 30.0),
    ("next_step", "ExclusiveGateway", 0.0),
]
IMPROVE = [("recall", "ServiceTask", 40.0), ("improve", "ServiceTask", 2000.0)]
END = [("accept", "ServiceTask", 30.0), ("end", "EndEvent", 0.0)]


def _run_records(
    diagram: str, version: int, run: int, at: datetime, rng: random.Random
) -> tuple[list[ElementVisit], list[FlowTaken]]:
    looped = run % 3 == 0
    path = START + LOOP + (IMPROVE + LOOP if looped else []) + END
    visits = []
    for i, (element, kind, typical) in enumerate(path):
        model = element in ("implement", "improve")
        duration = rng.uniform(0.5, 1.5) * typical
        visits.append(
            ElementVisit(
                run_id=f"bench-{diagram}-{run}",
                task_id=f"bench-{diagram}-{run}-{i}",
                diagram_id=diagram,
                diagram_version=version,
                element_id=element,
                kind=kind,
                outcome="failed" if element == "validate" and rng.random() < 0.05 else "completed",
                duration_ms=duration,
                model_ms=duration * 0.9 if model else None,
                tokens_in=rng.randrange(100, 400) if model else 0,
                tokens_out=rng.randrange(50, 200) if model else 0,
                at=at + timedelta(seconds=i),
            )
        )
    taken = [("how_to_generate", "flow_how_to_generate_to_implement")]
    taken += [("next_step", "flow_next_step_to_recall")] if looped else []
    taken += [("next_step", "flow_next_step_to_accept")]
    flows = [
        FlowTaken(
            run_id=f"bench-{diagram}-{run}",
            diagram_id=diagram,
            diagram_version=version,
            gateway=gateway,
            flow=flow,
            at=at,
        )
        for gateway, flow in taken
    ]
    return visits, flows


async def _record(database_url: str, diagram: str, version: int, steps: int) -> tuple[int, int]:
    """Record at least `steps` visits of `diagram` over the last six days; (visits, flows)."""
    db = create_engine(database_url, pool_size=2)
    store = PostgresLearningStore(db)
    rng = random.Random(1)
    now = datetime.now(UTC)
    visits: list[ElementVisit] = []
    flows: list[FlowTaken] = []
    run = 0
    while len(visits) < steps:
        at = now - timedelta(days=6) + timedelta(seconds=rng.uniform(0, 6 * 86400 - 60))
        v, f = _run_records(diagram, version, run, at, rng)
        visits += v[: steps - len(visits)]
        flows += f
        run += 1
    try:
        for start in range(0, len(visits), 2000):
            await store.record_visits(visits[start : start + 2000], [])
        await store.record_visits([], flows)
        if store.health().dropped:
            raise RuntimeError(f"recording failed: {store.health().last_error}")
    finally:
        await db.dispose()
    return len(visits), len(flows)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench statistics", description=__doc__)
    parser.add_argument("--steps", type=int, default=10_000, help="visits of quick to record")
    parser.add_argument("--requests", type=int, default=200, help="timed GETs")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wg-bench-statistics-"))
    with served(workdir, latency_ms=0, workers=1, concurrency=1, max_in_flight=8) as s:
        headers = {"Authorization": f"Bearer {s.token}"}
        with httpx.Client(base_url=s.url, headers=headers, timeout=30) as api:
            version = api.get("/api/diagrams/quick").raise_for_status().json()["latest_version"]
            steps, flows = asyncio.run(_record(s.database_url, "quick", version, args.steps))
            asyncio.run(_record(s.database_url, "standard", 1, args.steps))  # to be skipped
            print(f"recorded {steps} visits and {flows} flows of quick v{version}", file=sys.stderr)
            url = "/api/diagrams/quick/statistics"
            params = {"version": version, "hours": 24 * 7}
            for _ in range(10):  # warm: connections, plans, caches
                api.get(url, params=params).raise_for_status()
            times_ms = []
            answer: dict[str, Any] = {}
            for _ in range(args.requests):
                started = time.perf_counter()
                resp = api.get(url, params=params)
                times_ms.append((time.perf_counter() - started) * 1000)
                answer = resp.raise_for_status().json()
    elements = answer.get("elements") or []
    visits = sum(int(e["visits"]) for e in elements)
    if visits != steps:
        print(f"the answer counts {visits} visits, {steps} were recorded", file=sys.stderr)
        return 1
    print(
        f"statistics p50_ms={statistics.median(times_ms):.1f} "
        f"p95_ms={_percentile(times_ms, 95):.1f} max_ms={max(times_ms):.1f} "
        f"steps={steps} flows={flows} elements={len(elements)}"
    )
    return 0
