"""Chaos test: 20 runs in flight while the embedded PostgreSQL is SIGKILLed twice.

`serve` is never restarted: it restarts its database, its workers reconnect, every run
completes, no step result is applied twice, no job is left behind, and `/health` says the
database is down while it is.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
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
KILLS = 2


@pytest.fixture()
def embedded_env(cluster: Cluster, workroot: Path) -> Iterator[tuple[Environment, Standin]]:
    slow = start_standin(workroot, "--latency-ms", "300")
    env = make_environment(cluster, slow, "chaos", workroot)
    del env.env["DATABASE_URL"]  # serve starts (and must keep up) its own PostgreSQL
    env.start_server(workers=2)
    yield env, slow
    env.stop()
    slow.proc.terminate()
    slow.proc.wait(10)


class HealthWatch:
    """Polls /health every 0.2 s in a thread and keeps every status it saw."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []
        self.bodies: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(0.2):
                try:
                    resp = client.get(f"{self.url}/health")
                except httpx.HTTPError:
                    self.statuses.append(-1)
                    continue
                self.statuses.append(resp.status_code)
                if resp.status_code != 200:
                    self.bodies.append(resp.json())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _postmaster_pid(data_dir: Path) -> int:
    """The running server's pid; 0 while none has written its lock file."""
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return 0


def test_runs_survive_a_killed_database(embedded_env: tuple[Environment, Standin]) -> None:
    env, _ = embedded_env
    pg_dir = env.workdir / "data" / "postgres"
    rng = random.Random(11)
    health = HealthWatch(env.url)
    try:
        with env.client() as api:
            run_ids = [
                start_run(api, f"Write a function add(a, b) run {i} BROKEN-FIRST", "quick")
                for i in range(RUNS)
            ]
            started = time.monotonic()
            for _ in range(KILLS):
                time.sleep(rng.uniform(1.0, 4.0))
                killed = _postmaster_pid(pg_dir)
                assert killed, "the database is up before each kill"
                os.kill(killed, signal.SIGKILL)
                down = time.monotonic()
                deadline = time.monotonic() + 60
                new_from: int | None = None
                while time.monotonic() < deadline:  # back up: a new postmaster answering
                    time.sleep(0.2)
                    if new_from is None and _postmaster_pid(pg_dir) not in (0, killed):
                        # a /health seen before the new postmaster may be one from before
                        # the kill: only answers from now on count
                        new_from = len(health.statuses)
                    if new_from is not None and 200 in health.statuses[new_from:]:
                        print(f"kill: /health 200 again after {time.monotonic() - down:.1f} s")
                        break
                else:
                    raise AssertionError(f"database not back 60 s after the kill: {health.bodies}")
            runs = [wait_run(api, run_id, timeout=240) for run_id in run_ids]
            print(f"{RUNS} runs done {time.monotonic() - started:.1f} s after the first sleep")
    finally:
        health.stop()
    assert [r["status"] for r in runs] == ["completed"] * RUNS, [
        (r["id"], r["status"], r.get("error"), r.get("incidents"))
        for r in runs
        if r["status"] != "completed"
    ][:3]
    assert any(s not in (200, -1) for s in health.statuses), "/health said 200 throughout"
    assert any(b["checks"]["database"]["ok"] is False for b in health.bodies), health.bodies
    log = (env.workdir / "server.log").read_text(errors="replace")
    assert log.count("embedded PostgreSQL died") >= KILLS
    url = f"postgresql://postgres@/postgres?host={quote(str(pg_dir), safe='')}"
    with psycopg.connect(url) as conn:
        assert_applied_once(conn, RUNS)
        # a retry of a step whose result already landed may still be scheduled: it must end
        pending: list[tuple] = []
        for _ in range(300):  # bounded: 60 s
            pending = conn.execute(
                "SELECT id, task_name, status, attempts, scheduled_at - now() "
                "FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            ).fetchall()
            if not pending:
                break
            time.sleep(0.2)
        assert pending == [], "a job was left behind"
