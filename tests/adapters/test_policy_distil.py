"""Learned policies distilled into DMN on both outcome stores: the exported table says what
was learned (with the evidence as annotations), and the drift check names the contexts where
live evidence disagrees with a pinned table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from adapters.database import create_engine
from adapters.learning import PolicyOutcome
from adapters.learning.postgres import PostgresLearningStore
from engine.migrate import upgrade
from engine.policies.distil import drift, export
from engine.policies.dmn import Rule, decide, table_xml
from tests.servers import Cluster


@pytest.fixture(params=["postgres", "influxdb"])
async def fresh_store(request: pytest.FixtureRequest, cluster: Cluster) -> AsyncIterator[Any]:
    """An outcome store of its own: an export reads every context the store knows, and the
    contract tests fill the shared one with ten thousand."""
    if request.param == "postgres":
        url = cluster.database("wg_distil")
        upgrade(url)
        db = create_engine(url, pool_size=2)
        yield PostgresLearningStore(db)
        await db.dispose()
        return
    from adapters.learning.influx import InfluxOutcomeStore

    server = request.getfixturevalue("influx_server")
    store = InfluxOutcomeStore(server.url, database=f"distil_{uuid.uuid4().hex[:8]}")
    yield store
    await store.close()


def outcome(policy: str, choice: str, success: bool, ms: float, **context: str) -> PolicyOutcome:
    return PolicyOutcome(
        policy=policy,  # type: ignore[arg-type]
        run_id=str(uuid.uuid4()),
        task_id=str(uuid.uuid4()),
        language="python",
        choice=choice,
        success=success,
        duration_ms=ms,
        tokens=100,
        **context,
    )


async def test_export_and_drift_follow_the_evidence(fresh_store: Any) -> None:
    outcome_store = fresh_store
    element = "implement"
    route = {"element": element, "task_type": "function"}
    for i in range(10):
        await outcome_store.record_policy(outcome("route", "coder", i < 9, 400, **route))
        await outcome_store.record_policy(outcome("route", "coder-b", i < 2, 400, **route))
        failure = {"element": element, "failure_class": "timeout"}
        await outcome_store.record_policy(outcome("failure", "retry", True, 3000, **failure))
        await outcome_store.record_policy(outcome("failure", "switch", True, 200, **failure))
    await outcome_store.flush()
    policies: Any = SimpleNamespace(
        learning=SimpleNamespace(outcomes=outcome_store), min_evidence=5
    )

    xml, rules = await export(policies, "route")
    context = {**route, "language": "python"}
    assert rules >= 1 and decide(xml, "route", context).output == "coder"
    assert "coder: 9 of 10 succeeded, 400 ms, 100 tokens" in xml
    assert "coder-b: 2 of 10 succeeded" in xml

    xml, _ = await export(policies, "failure")
    assert decide(xml, "failure", {"failure_class": "timeout", "element": element}).output == (
        "switch"
    )
    other = decide(xml, "failure", {"failure_class": "rate_limit", "element": "x"})
    assert other.output == "retry"  # the catch-all: today's behaviour

    pinned = table_xml("route", [Rule({"element": element}, "coder-b", "a person's choice")])
    [found] = await drift(policies, "route", pinned)
    assert found["context"] == context
    assert (found["table_says"], found["learned"]) == ("coder-b", "coder")
    assert found["utility_gain"] >= 0.1
    agreeing = table_xml("route", [Rule({"element": element}, "coder", "")])
    assert await drift(policies, "route", agreeing) == []
