"""Runs, steps, model calls and validations leave spans with aggregatable attributes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from engine.container import Database, build_engine
from engine.migrate import upgrade
from engine.runs import RunRequest
from engine.settings import Settings
from engine.tables import steps
from tests.servers import ROOT, Cluster, Standin, write_models


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_spans_for_run_step_model_and_validation(
    cluster: Cluster, standin: Standin, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    url = await asyncio.to_thread(cluster.database, "wg_telemetry")
    await asyncio.to_thread(upgrade, url)
    models = write_models(tmp_path / "models.yaml", standin.port)
    engine = build_engine(Settings(models_file=models), Database(url), pool_size=2)
    try:
        await engine.catalog.sync_folder(ROOT / "bpmn")
        run_id = await engine.runs.start(
            RunRequest(text="Write a function add(a, b) that returns their sum", pattern="quick"),
            created_by="test",
        )
        for _ in range(6):  # implement, validate, decide_next, accept: run each waiting step
            async with engine.db.connect() as conn:
                waiting = (
                    (
                        await conn.execute(
                            select(steps.c.task_id).where(
                                steps.c.run_id == run_id, steps.c.state == "started"
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
            if not waiting:
                break
            for task_id in waiting:
                assert await engine.runner.run(run_id, task_id, attempt=1) == "completed"
    finally:
        await engine.db.dispose()
    by_name = {s.name: s for s in spans.get_finished_spans()}
    step = by_name["step implement"].attributes or {}
    assert step["weavergen.operator"] == "llm.generate" and step["weavergen.pattern"] == "quick"
    assert step["weavergen.model_group"] == "coder" and step["weavergen.tokens_in"] > 0
    assert step["weavergen.outcome"] == "completed"
    model = by_name["model coder"].attributes or {}
    assert model["weavergen.deployment"] == "coder-standin-1" and model["weavergen.tokens_out"] > 0
    validation = by_name["validate python"].attributes or {}
    assert validation["weavergen.outcome"] == "passed" and validation["weavergen.score"] == 1.0
    run = by_name["run quick"].attributes or {}
    assert run["weavergen.outcome"] == "completed" and run["weavergen.run_id"] == str(run_id)
    assert by_name["model coder"].parent.span_id == by_name["step implement"].context.span_id
