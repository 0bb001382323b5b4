"""The InfluxDB outcome store against a real influxd (1.6, Debian): exact counts, and what
happens while the server is down (writes return at once, nothing is lost silently)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.learning import (
    IterationOutcome,
    LearningUnavailable,
    PatternStats,
    RunOutcome,
    StepOutcome,
)
from adapters.learning.influx import InfluxOutcomeStore
from tests.influx_server import InfluxServer

WRITE_BUDGET_S = 0.05  # a record_* call while the server is down


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    s = InfluxServer(tmp_path_factory.mktemp("influx"))
    s.start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def running(server: InfluxServer) -> InfluxServer:
    """Every test starts with the server up, whatever the previous test left."""
    return server.start()


@pytest.fixture()
async def store(server: InfluxServer) -> AsyncIterator[InfluxOutcomeStore]:
    s = InfluxOutcomeStore(server.url, database=f"resilience_{uuid.uuid4().hex[:8]}")
    yield s
    server.start()
    await s.close()


def _run(i: int, pattern: str = "quick", success: bool = True, **kw: Any) -> RunOutcome:
    return RunOutcome(
        run_id=f"run-{i}",
        pattern=pattern,
        language=kw.pop("language", "python"),
        task_type=kw.pop("task_type", "function"),
        success=success,
        duration_ms=10.0 * i,
        tokens_in=100 + i,
        tokens_out=200 + i,
        iterations=1,
        **kw,
    )


def _step(i: int, success: bool = True, **kw: Any) -> StepOutcome:
    return StepOutcome(
        run_id=f"run-{i}",
        task_id=f"task-{i}",
        pattern="quick",
        step="implement",
        operator="llm.generate",
        model_group="coder",
        deployment="standin-a",
        language="python",
        task_type="function",
        success=success,
        duration_ms=1.5 * i,
        tokens_in=i,
        tokens_out=2 * i,
        score=0.5,
        **kw,
    )


def _influxql(server: InfluxServer, database: str, query: str) -> list[dict[str, Any]]:
    """Raw InfluxQL, to check what really reached the server."""
    response = httpx.get(f"{server.url}/query", params={"db": database, "q": query}, timeout=5)
    response.raise_for_status()
    result = response.json()["results"][0]
    assert "error" not in result, result
    return list(result.get("series", []))


def _count(server: InfluxServer, database: str, measurement: str) -> int:
    series = _influxql(server, database, f'SELECT count("run_id") FROM "{measurement}"')
    return sum(int(row[1]) for s in series for row in s["values"])


async def test_exact_counts_after_flush(store: InfluxOutcomeStore, server: InfluxServer) -> None:
    same_instant = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    runs = [
        *[_run(i, "quick", True) for i in range(4)],
        *[_run(10 + i, "quick", False) for i in range(2)],
        *[_run(20 + i, "bug_fix", False) for i in range(3)],
        # same tags, same microsecond: must stay five points, not overwrite into one
        *[_run(30 + i, "standard", True, at=same_instant) for i in range(5)],
        _run(40, "quick", True, language="go"),
        _run(41, "quick", True, task_type="refactor"),
    ]
    for run in runs:
        await store.record_run(run)
    for i in range(7):
        await store.record_step(_step(i, success=i % 2 == 0))
    awkward = 'assert f(x) == 1, "got" 2 \\ $x\nnext\\'
    for helped in (True, False, True, True):
        await store.record_iteration(
            IterationOutcome(run_id="it", signature=awkward, language="python", helped=helped)
        )
    await store.record_iteration(
        IterationOutcome(run_id="it", signature=awkward, language="go", helped=True)
    )
    await store.flush()

    assert store.health().buffered == 0
    assert await store.pattern_stats("function", "python") == [
        PatternStats(pattern="bug_fix", successes=0, failures=3),
        PatternStats(pattern="quick", successes=4, failures=2),
        PatternStats(pattern="standard", successes=5, failures=0),
    ]
    assert await store.pattern_stats("function", "go") == [
        PatternStats(pattern="quick", successes=1, failures=0)
    ]
    assert await store.pattern_stats("function", "rust") == []
    assert await store.iteration_stats(awkward, "python") == (3, 4)
    assert await store.iteration_stats(awkward, "go") == (1, 1)
    assert await store.iteration_stats("never seen", "python") == (0, 0)
    # what reached the server: every point, typed fields, tags as documented
    assert _count(server, store.database, "run") == len(runs)
    assert _count(server, store.database, "step") == 7
    steps = _influxql(
        server,
        store.database,
        'SELECT "success", "duration_ms", "tokens_in", "score" FROM "step"'
        " WHERE \"operator\" = 'llm.generate' AND \"model_group\" = 'coder'"
        " AND \"deployment\" = 'standin-a' AND \"step\" = 'implement'",
    )
    values = steps[0]["values"]
    assert [row[1] for row in values].count(True) == 4
    assert {type(row[3]) for row in values} == {int} and values[0][4] == 0.5
    health = store.health()
    assert health.healthy and health.dropped == 0 and health.last_error is None


async def test_server_down_writes_buffer_and_deliver_after_restart(
    store: InfluxOutcomeStore, server: InfluxServer
) -> None:
    await store.record_run(_run(0, "quick", True))
    await store.flush()  # the database exists and one run is stored before the outage
    port = server.port
    server.stop()

    timings = []
    for i in range(25):
        for outcome in (_step(i, success=i % 5 != 0), _run(i + 1, "standard", i % 5 != 0)):
            began = time.perf_counter()
            if isinstance(outcome, StepOutcome):
                await store.record_step(outcome)
            else:
                await store.record_run(outcome)
            timings.append(time.perf_counter() - began)
    assert max(timings) < WRITE_BUDGET_S, f"slowest record_* took {max(timings) * 1e3:.1f} ms"
    print(
        f"record_* with the server down: max {max(timings) * 1e3:.3f} ms,"
        f" mean {sum(timings) / len(timings) * 1e6:.0f} µs over {len(timings)} calls"
    )

    await asyncio.sleep(0.8)  # the background flusher has tried (and failed) by now
    health = store.health()
    assert health.buffered == 50
    assert not health.healthy
    assert health.dropped == 0
    assert health.last_error and server.url in health.last_error

    began = time.monotonic()
    await store.flush()  # must not raise
    assert time.monotonic() - began < 2.0
    assert store.health().buffered == 50
    with pytest.raises(LearningUnavailable, match=server.url):
        await store.pattern_stats("function", "python")
    with pytest.raises(LearningUnavailable, match=server.url):
        await store.iteration_stats("sig", "python")

    server.start()
    assert server.port == port
    await store.flush()
    health = store.health()
    assert (health.buffered, health.dropped, health.healthy) == (0, 0, True)
    assert await store.pattern_stats("function", "python") == [
        PatternStats(pattern="quick", successes=1, failures=0),
        PatternStats(pattern="standard", successes=20, failures=5),
    ]
    assert _count(server, store.database, "step") == 25
    assert _count(server, store.database, "run") == 26


async def test_background_flusher_delivers_after_an_outage(server: InfluxServer) -> None:
    store = InfluxOutcomeStore(
        server.url, database=f"bg_{uuid.uuid4().hex[:8]}", batch_size=20, flush_interval=0.1
    )
    try:
        server.stop()
        for i in range(70):
            await store.record_run(_run(i, "quick", i % 7 != 0))
        await asyncio.sleep(0.4)
        assert store.health().buffered == 70 and not store.health().healthy
        server.start()
        # no flush(): the background task retries (backoff) and drains every batch
        deadline = time.monotonic() + 8
        while store.health().buffered and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert store.health().buffered == 0
        assert await store.pattern_stats("function", "python") == [
            PatternStats(pattern="quick", successes=60, failures=10)
        ]
        assert store.health().healthy and store.health().dropped == 0
    finally:
        server.start()
        await store.close()


async def test_full_buffer_drops_oldest_and_reports_it(
    server: InfluxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="adapters.learning.influx")
    store = InfluxOutcomeStore(server.url, database=f"tiny_{uuid.uuid4().hex[:8]}", buffer_size=10)
    try:
        server.stop()
        for i in range(15):
            await store.record_run(_run(i, "quick", True))
        health = store.health()
        assert (health.buffered, health.dropped) == (10, 5)
        assert health.last_error is not None
        assert any("LOST" in r.getMessage() for r in caplog.records)

        server.start()
        await store.flush()
        health = store.health()
        assert (health.buffered, health.dropped) == (0, 5)
        # the oldest five went; the newest ten arrived
        series = _influxql(server, store.database, 'SELECT "run_id" FROM "run"')
        assert sorted(row[1] for row in series[0]["values"]) == sorted(
            f"run-{i}" for i in range(5, 15)
        )
    finally:
        server.start()
        await store.close()


async def test_undelivered_points_at_close_are_counted(server: InfluxServer) -> None:
    store = InfluxOutcomeStore(server.url, database=f"close_{uuid.uuid4().hex[:8]}")
    server.stop()
    try:
        for i in range(3):
            await store.record_run(_run(i))
        await store.close()
        health = store.health()
        assert (health.buffered, health.dropped) == (0, 3)
        await store.record_run(_run(99))  # after close: counted, never raised
        assert store.health().dropped == 4
    finally:
        server.start()


def test_startup_is_fast(server: InfluxServer) -> None:
    server.stop()
    server.start()
    assert server.startup_s is not None and server.startup_s < 2.0
    print(f"influxd start: {server.startup_s * 1e3:.0f} ms")
    assert httpx.get(f"{server.url}/ping", timeout=2).status_code == 204


async def test_points_the_server_rejects_are_counted_not_retried_forever(
    store: InfluxOutcomeStore, server: InfluxServer
) -> None:
    # someone else wrote `success` as an integer: our boolean points conflict with it
    httpx.post(
        f"{server.url}/query", data={"q": f'CREATE DATABASE "{store.database}"'}, timeout=5
    ).raise_for_status()
    httpx.post(
        f"{server.url}/write",
        params={"db": store.database},
        content=b"run,pattern=quick,language=python,task_type=function success=1i",
        timeout=5,
    ).raise_for_status()
    for i in range(3):
        await store.record_run(_run(i))
    await store.record_step(_step(1))
    await store.flush()
    health = store.health()
    assert (health.buffered, health.dropped) == (0, 3)
    assert health.last_error and "rejected 3 points" in health.last_error
    assert _count(server, store.database, "step") == 1  # the good point of the batch arrived
