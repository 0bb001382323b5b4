"""Real servers for the test suite: PostgreSQL, the stand-in model, WeaverGen server and workers.

Every helper here starts a real process and fails loudly, with the process's log, when it
cannot start. Nothing is mocked; the model is the stand-in server, reached through LiteLLM.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from adapters.models import single_endpoint_config
from bench.serving import free_port, launch_standin, wait_http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCRIPT = ROOT / "tests" / "fixtures" / "standin_script.yaml"


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Cluster:
    """One embedded PostgreSQL for the session; each environment gets its own database."""

    def __init__(self) -> None:
        # the embedded server runs as an unprivileged user: its directory must be reachable
        self.dir = Path(tempfile.mkdtemp(prefix="weavergen-test-pg-"))
        self.dir.chmod(0o755)
        from adapters.database import EmbeddedPostgres

        self.server = EmbeddedPostgres(self.dir / "data")
        self.admin_url = self.server.start()

    def database(self, name: str) -> str:
        """Create a fresh database; returns its SQLAlchemy URL."""
        libpq = self.admin_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.replace("/postgres?", f"/{name}?")

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Standin:
    """The stand-in model server (scripted answers), as a real HTTP process."""

    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configure(self, **settings: float) -> None:
        httpx.post(f"{self.url}/standin/config", json=settings, timeout=5).raise_for_status()


def start_standin(workdir: Path, *extra: str, port: int | None = None) -> Standin:
    return Standin(*launch_standin(workdir, *extra, port=port))


def write_models(path: Path, standin_port: int) -> Path:
    """A models.yaml pointing every group at the stand-in, with test-sized timeouts."""
    path.write_text(
        single_endpoint_config(
            f"http://127.0.0.1:{standin_port}/v1",
            ["coder", "coder-b", "coder-c", "reviewer", "classifier", "embedder"],
            timeout_seconds=20,
        )
    )
    return path


@dataclass
class Environment:
    """A WeaverGen server (and optional extra workers) on its own database."""

    name: str
    workdir: Path
    database_url: str
    models: Path
    env: dict[str, str]
    port: int = 0
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_server(self, *, workers: int) -> None:
        self.port = free_port()
        env = {**self.env, "WEAVERGEN_PORT": str(self.port), "WEAVERGEN_WORKERS": str(workers)}
        log = self.workdir / "server.log"
        self.server = subprocess.Popen(
            [str(BIN / "weavergen"), "serve"],
            env=env,
            cwd=self.workdir,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_http(f"{self.url}/health", self.server, log)
        self.token = (self.workdir / "data" / "cli-token").read_text().strip()

    def start_worker(self, index: int) -> subprocess.Popen[bytes]:
        log = self.workdir / f"worker-{index}.log"
        proc = subprocess.Popen(
            [str(BIN / "weavergen"), "worker", "--concurrency", "8"],
            env=self.env,
            cwd=self.workdir,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def client(self, token: str | None = None) -> httpx.Client:
        tok = self.token if token is None else token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        for w in self.workers:
            stop(w)
        if self.server is not None:
            stop(self.server)


def make_environment(cluster: Cluster, standin: Standin, name: str, root: Path) -> Environment:
    workdir = root / name
    workdir.mkdir(parents=True, exist_ok=True)
    models = write_models(workdir / "models.yaml", standin.port)
    url = cluster.database(f"wg_{name}")
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WEAVERGEN_", "DATABASE_URL")) or k == "WEAVERGEN_TOOLCHAIN_DIR"
        },
        "DATABASE_URL": url,
        "WEAVERGEN_DATA_DIR": str(workdir / "data"),
        "WEAVERGEN_MODELS": str(models),
        "WEAVERGEN_RETRY_BASE_SECONDS": "0.2",
        "WEAVERGEN_MAX_ATTEMPTS": "3",
        "WEAVERGEN_STALLED_AFTER_SECONDS": "4",
        "WEAVERGEN_VALIDATION_TIMEOUT": "30",
        # pattern choices in these tests must not depend on exploration draws
        "WEAVERGEN_LEARNING_EXPLORATION": "false",
    }
    return Environment(name, workdir, url, models, env)


def assert_applied_once(conn: Any, runs: int) -> None:
    """Each task's result applied once, and each of `runs` quick runs' two iterations kept
    exactly two applied `solution.py` versions (a crash or outage test's ledger check)."""
    twice = conn.execute(
        "SELECT task_id, count(*) FROM step_events WHERE event = 'completed' "
        "GROUP BY task_id HAVING count(*) > 1"
    ).fetchall()
    assert twice == [], "a step result was applied twice"
    applied = conn.execute(
        "SELECT run_id, count(*) FROM artifacts WHERE applied AND path = 'solution.py' "
        "GROUP BY run_id"
    ).fetchall()
    assert sorted(n for _, n in applied) == [2] * runs


def load_modules(env: Environment, *modules: str) -> Environment:
    """Have the server and its workers import `modules` (test operators, injected faults)."""
    env.env["PYTHONPATH"] = str(ROOT)
    env.env["WEAVERGEN_OPERATOR_MODULES"] = ",".join(modules)
    return env


def wait_run(
    client: httpx.Client,
    run_id: str,
    statuses: tuple[str, ...] = ("completed", "failed", "incident"),
    timeout: float = 90.0,
) -> dict:
    """Poll a run until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    run: dict = {}
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{run_id}").raise_for_status().json()
        if run["status"] in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(
        f"run {run_id} still {run.get('status')} after {timeout} s: "
        f"{[(s['element_id'], s['state']) for s in run.get('steps', [])]}"
    )
