"""With INFLUX_URL and NEO4J_URI set, the real servers are used; stopping them mid-way
neither fails nor stalls a run, and the records arrive once they are back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.learning.influx import InfluxOutcomeStore
from adapters.learning.neo4j import Neo4jKnowledgeStore
from engine.learning.signatures import signatures
from tests.api.helpers import start_run
from tests.servers import Cluster, Environment, Standin, make_environment, wait_run

TEXT = "Write a function add(a, b) that returns their sum BROKEN-FIRST"


@pytest.fixture(scope="module")
def stores_env(
    cluster: Cluster, standin: Standin, workroot: Path, influx_server: Any, neo4j_server: Any
) -> Iterator[Environment]:
    env = make_environment(cluster, standin, "stores", workroot)
    env.env.update(
        {"INFLUX_URL": influx_server.url, "INFLUX_DATABASE": "e2e", "NEO4J_URI": neo4j_server.uri}
    )
    if getattr(neo4j_server, "password", None):
        env.env["NEO4J_PASSWORD"] = neo4j_server.password
    env.start_server(workers=1)
    yield env
    env.stop()


def quick_runs(influx_url: str) -> int:
    async def count() -> int:
        store = InfluxOutcomeStore(influx_url, database="e2e")
        try:
            stats = await store.pattern_stats("function", "python")
        finally:
            await store.close()
        return sum(s.successes + s.failures for s in stats if s.pattern == "quick")

    return asyncio.run(count())


def fixes(neo4j: Any, sigs: list[str]) -> int:
    async def count() -> int:
        store = Neo4jKnowledgeStore(neo4j.uri, password=getattr(neo4j, "password", None))
        try:
            found = await store.fixes_for(sigs, "python", limit=100)
        finally:
            await store.close()
        return len(found)

    return asyncio.run(count())


def eventually(check: Any, expected: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"expected {expected}, still {value} after {timeout} s")


def test_real_stores_survive_being_stopped(
    stores_env: Environment, influx_server: Any, neo4j_server: Any
) -> None:
    with stores_env.client() as api:
        run = wait_run(api, start_run(api, TEXT, "quick"))
        assert run["status"] == "completed"
        first_validation = next(s for s in run["steps"] if s["element_id"] == "validate")
        sigs = signatures(first_validation["result"]["findings"])
        assert sigs
        eventually(lambda: quick_runs(influx_server.url), 1)
        eventually(lambda: fixes(neo4j_server, sigs), 1)

        influx_server.stop()
        neo4j_server.stop()
        try:
            started = time.monotonic()
            runs = [wait_run(api, start_run(api, TEXT, "quick"), timeout=60) for _ in range(2)]
            assert [r["status"] for r in runs] == ["completed", "completed"]
            assert time.monotonic() - started < 60, "runs must not wait for the stores"
        finally:
            influx_server.start()
            neo4j_server.start()
        # buffered records are retried and arrive; nothing was dropped
        eventually(lambda: quick_runs(influx_server.url), 3, timeout=60)
        eventually(lambda: fixes(neo4j_server, sigs), 3, timeout=60)


def test_decisions_ask_both_stores_and_go_on_without_neo4j(
    stores_env: Environment, neo4j_server: Any
) -> None:
    def stores_of(run: dict[str, Any], element: str) -> dict[str, Any]:
        decision = next(d for d in run["decisions"] if d["element_id"] == element)
        return dict(decision["evidence"]["stores"])

    with stores_env.client() as api:
        # a first run creates the InfluxDB database (a fresh one answers "not executed")
        assert wait_run(api, start_run(api, TEXT, "quick"))["status"] == "completed"
        run = wait_run(api, start_run(api, TEXT))  # the orchestrator decides the pattern
        assert run["status"] == "completed"
        pattern = stores_of(run, "choose_pattern")
        assert pattern["outcomes"]["backend"] == "influxdb" and "rows" in pattern["outcomes"]
        assert pattern["knowledge"]["backend"] == "neo4j" and "neighbours" in pattern["knowledge"]
        improve = stores_of(run, "decide_next")  # the first one: the code failed its tests
        assert improve["outcomes"]["backend"] == "influxdb" and "iterations" in improve["outcomes"]
        assert improve["knowledge"]["backend"] == "neo4j" and "paths" in improve["knowledge"]

        neo4j_server.stop()
        try:
            run = wait_run(api, start_run(api, TEXT), timeout=60)
            assert run["status"] == "completed"
            decision = next(d for d in run["decisions"] if d["element_id"] == "choose_pattern")
            assert decision["choice"] in ("quick", "standard")
            pattern = stores_of(run, "choose_pattern")
            assert "rows" in pattern["outcomes"], "the outcome store still answers"
            assert "Neo4j" in pattern["knowledge"]["unavailable"]
            improve = stores_of(run, "decide_next")
            assert "Neo4j" in improve["knowledge"]["unavailable"]
            assert "iterations" in improve["outcomes"]
            remember = next(s for s in run["steps"] if s["element_id"] == "remember")
            assert "neo4j unavailable" in remember["result"]["evidence"]["learning_error"]
        finally:
            neo4j_server.start()
