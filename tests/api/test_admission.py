"""Load behaviour of `weavergen serve`: a burst of starts is refused with 503 + Retry-After
(never a 500), refused callers get in when they come back, and the supervised worker
process is started again when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import start_run
from tests.servers import Cluster, Environment, Standin, make_environment, wait_run

BURST = 40


@pytest.fixture(scope="module")
def narrow_env(cluster: Cluster, standin: Standin, workroot: Path) -> Iterator[Environment]:
    """A server that lets one start run at a time and two more wait."""
    env = make_environment(cluster, standin, "narrow", workroot)
    env.env |= {"WEAVERGEN_INTAKE_CONCURRENCY": "1", "WEAVERGEN_INTAKE_QUEUE": "2"}
    env.start_server(workers=1)
    yield env
    env.stop()


async def _burst(env: Environment, n: int) -> list[httpx.Response]:
    body = {"text": "Write a function add(a, b)", "pattern": "quick"}
    headers = {"Authorization": f"Bearer {env.token}"}
    async with httpx.AsyncClient(base_url=env.url, headers=headers, timeout=60) as client:
        return await asyncio.gather(*(client.post("/api/runs", json=body) for _ in range(n)))


def test_burst_is_refused_with_retry_after_and_never_500(narrow_env: Environment) -> None:
    answers = asyncio.run(_burst(narrow_env, BURST))
    codes = sorted({r.status_code for r in answers})
    assert set(codes) <= {201, 503}, [r.text for r in answers if r.status_code not in (201, 503)]
    refused = [r for r in answers if r.status_code == 503]
    assert refused, "one start at a time and two waiting cannot take 40 at once"
    for r in refused:
        assert int(r.headers["Retry-After"]) >= 1
        assert "try again in" in r.json()["detail"]
    accepted = [r.json()["id"] for r in answers if r.status_code == 201]
    # the refused callers come back when told to, and get in
    with narrow_env.client() as api:
        for _ in refused:
            for _attempt in range(30):
                resp = api.post(
                    "/api/runs", json={"text": "Write a function add(a, b)", "pattern": "quick"}
                )
                if resp.status_code != 503:
                    break
                time.sleep(int(resp.headers["Retry-After"]))
            assert resp.status_code == 201, resp.text
            accepted.append(resp.json()["id"])
        assert len(accepted) == BURST
        runs = [wait_run(api, run_id, timeout=300) for run_id in accepted]
    assert {r["status"] for r in runs} == {"completed"}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_a_dead_worker_process_is_started_again(narrow_env: Environment) -> None:
    assert narrow_env.server is not None
    server = narrow_env.server.pid
    workers = _children(server)
    assert len(workers) == 1, "one supervised worker process"
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _children(server) in ([], workers):
        time.sleep(0.2)
    assert _children(server) not in ([], workers), "the supervisor started a new worker"
    with narrow_env.client() as api:
        run = wait_run(api, start_run(api, "Write a function add(a, b)", "quick"), timeout=120)
    assert run["status"] == "completed"
    log = (narrow_env.workdir / "server.log").read_text(errors="replace")
    assert "restarting in" in log
