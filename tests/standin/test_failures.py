"""Injected failures, runtime configuration, latency and statistics."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.standin.conftest import StartStandin
from tests.standin.helpers import chat_body


async def test_fail_rate_one_answers_503_then_config_recovers(
    start_standin: StartStandin,
) -> None:
    server = start_standin(fail_rate=1.0)
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        failed = await client.post("/v1/chat/completions", json=chat_body("hi"))
        assert failed.status_code == 503
        assert failed.json() == {
            "error": {
                "message": "stand-in model: injected failure (fail_rate=1.0)",
                "type": "service_unavailable",
                "code": 503,
            }
        }
        settings = (await client.post("/standin/config", json={"fail_rate": 0})).json()
        assert settings == {"fail_rate": 0.0, "latency_ms": 0.0}
        ok = await client.post("/v1/chat/completions", json=chat_body("hi"))
        assert ok.status_code == 200
        stats = (await client.get("/standin/stats")).json()
    assert stats["requests"] == 2
    assert stats["served"] == 1
    assert stats["failed"] == 1
    assert stats["injected_failures"] == 1
    assert stats["by_model"] == {"coder": 2}
    assert stats["by_source"] == {"default": 1}


async def test_fail_rate_is_seeded_and_roughly_right(start_standin: StartStandin) -> None:
    async def statuses(seed: int) -> list[int]:
        server = start_standin(fail_rate=0.3, seed=seed)
        async with httpx.AsyncClient(base_url=server.api_base) as client:
            return [
                (await client.post("/chat/completions", json=chat_body("x"))).status_code
                for _ in range(200)
            ]

    first, again = await statuses(7), await statuses(7)
    assert first == again
    assert set(first) == {200, 503}
    assert 0.2 < first.count(503) / len(first) < 0.4


async def test_config_rejects_out_of_range_values(start_standin: StartStandin) -> None:
    server = start_standin()
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        bad = await client.post("/standin/config", json={"fail_rate": 1.5})
        unknown = await client.post("/standin/config", json={"accuracy": 0.1})
        current = (await client.get("/standin/config")).json()
    assert bad.status_code == 400
    assert unknown.status_code == 400
    assert current == {"fail_rate": 0.0, "latency_ms": 0.0}


async def test_latency_is_asynchronous_and_configurable(start_standin: StartStandin) -> None:
    server = start_standin(latency_ms=300)
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=chat_body("x")) for _ in range(4))
        )
        slow = time.perf_counter() - started
        assert [r.status_code for r in responses] == [200] * 4
        # four concurrent requests overlap: the server sleeps without blocking
        assert 0.3 <= slow < 1.0
        await client.post("/standin/config", json={"latency_ms": 0})
        started = time.perf_counter()
        fast_response = await client.post("/v1/chat/completions", json=chat_body("x"))
        fast = time.perf_counter() - started
    assert fast_response.status_code == 200
    assert fast < 0.25
