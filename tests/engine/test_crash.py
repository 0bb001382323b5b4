"""Crash test: 20 runs in flight while worker processes are SIGKILLed and restarted.

Every run completes, no step result is applied twice, nothing is lost.
"""

from __future__ import annotations

import random
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.api.helpers import start_run
from tests.servers import (
    Cluster,
    Environment,
    Standin,
    assert_applied_once,
    make_environment,
    start_standin,
    wait_run,
)

RUNS = 20
KILLS = 4
SANDBOXES = Path(tempfile.gettempdir()) / "weavergen-sandbox"


@pytest.fixture()
def crash_env(cluster: Cluster, workroot: Path) -> Iterator[tuple[Environment, Standin]]:
    # a slower stand-in keeps steps in flight when the workers die
    slow = start_standin(workroot, "--latency-ms", "300")
    env = make_environment(cluster, slow, "crash", workroot)
    env.start_server(workers=0)
    yield env, slow
    env.stop()
    slow.proc.terminate()
    slow.proc.wait(10)


def _validating(pid: int, within: float = 15.0) -> None:
    """Wait (bounded) until worker `pid` runs a validation: its sandbox work dir exists."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not any(SANDBOXES.glob(f"p{pid}-*")):
        time.sleep(0.05)


def test_runs_survive_sigkilled_workers(crash_env: tuple[Environment, Standin]) -> None:
    env, _ = crash_env
    rng = random.Random(7)
    workers = [env.start_worker(0), env.start_worker(1)]
    with env.client() as api:
        run_ids = [
            start_run(api, f"Write a function add(a, b) run {i} BROKEN-FIRST", "quick")
            for i in range(RUNS)
        ]
        for kill in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            victim = rng.randrange(len(workers))
            _validating(workers[victim].pid)  # kill it with a step in flight, not while it boots
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(10)
            workers[victim] = env.start_worker(10 + kill)
        runs = [wait_run(api, run_id, timeout=180) for run_id in run_ids]
    assert [r["status"] for r in runs] == ["completed"] * RUNS
    logs = "".join(p.read_text(errors="replace") for p in env.workdir.glob("worker-*.log"))
    assert "stalled: its worker died" in logs, "the kills hit jobs in flight, which were recovered"
    for run in runs:
        decisions = [d["choice"] for d in run["decisions"] if d["element_id"] == "decide_next"]
        assert decisions == ["improve", "accept"], run["id"]
        validations = [s for s in run["steps"] if s["element_id"] == "validate"]
        assert len(validations) == 2
    url = env.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        # a task completes once: one 'completed' event per task, one decision per decide task
        assert_applied_once(conn, RUNS)
        tokens = conn.execute(
            "SELECT r.id FROM runs r JOIN steps s ON s.run_id = r.id GROUP BY r.id, r.tokens_in "
            "HAVING r.tokens_in <> sum(s.tokens_in)"
        ).fetchall()
        assert tokens == [], "token counts match the applied step results exactly"
        pending = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        ).fetchone()
        assert pending == (0,)
