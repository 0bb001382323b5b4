"""A real WeaverGen for the load and start-up benches: its own PostgreSQL, a stand-in model
server and `weavergen serve`, each a process of its own, all stopped on the way out.

`memory_mb()` sums the memory (PSS) of the server, its worker processes and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapters.database import EmbeddedPostgres
from adapters.models import single_endpoint_config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCRIPT = ROOT / "tests" / "fixtures" / "standin_script.yaml"
GROUPS = ["coder", "coder-b", "coder-c", "reviewer", "classifier"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> float:
    """Seconds until `url` answers 200; raises with the log's tail if the process dies or
    the time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{tail(log)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{tail(log)}")


def launch_standin(
    workdir: Path, *extra: str, port: int | None = None
) -> tuple[int, subprocess.Popen[bytes], Path]:
    """The stand-in model server on `port` (a free one by default) with the test script and
    `extra` options, answering; returns its port, process and log."""
    port = port or free_port()
    log = workdir / f"standin-{port}.log"
    proc = subprocess.Popen(
        [
            str(BIN / "weavergen"),
            "standin-model",
            "--port",
            str(port),
            "--script",
            str(SCRIPT),
            *extra,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    wait_http(f"http://127.0.0.1:{port}/health", proc, log)
    return port, proc, log


def _pss_mb(pid: int) -> float:
    """Proportional set size: shared pages (PostgreSQL's buffers) split among their users,
    so that a sum over processes does not count them once per process."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def _processes_of(data_dir: Path) -> list[int]:
    """PostgreSQL's processes: the postmaster (its pid file) and its children."""
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [postmaster, *_children(postmaster)]


@dataclass
class Served:
    """The running processes and how to reach them."""

    workdir: Path
    url: str = ""
    token: str = ""
    standin: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    pg: EmbeddedPostgres | None = None
    database_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    health_s: float = 0.0

    def memory_mb(self) -> dict[str, float]:
        """Memory now (PSS, MB): server, its workers, PostgreSQL."""
        server = self.server.pid if self.server else 0
        workers = _children(server) if server else []
        pg_dir = self.workdir / "pg"
        return {
            "server": _pss_mb(server) if server else 0.0,
            "workers": sum(_pss_mb(p) for p in workers),
            "postgres": sum(_pss_mb(p) for p in _processes_of(pg_dir)),
        }

    def start_server(self, extra_env: dict[str, str] | None = None) -> float:
        """Start `weavergen serve`; returns the seconds until /health answered."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**self.env, "WEAVERGEN_PORT": str(port), **(extra_env or {})}
        log = self.workdir / "server.log"
        self.server = subprocess.Popen(
            [str(BIN / "weavergen"), "serve"],
            env=env,
            cwd=self.workdir,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.health_s = wait_http(f"{self.url}/health", self.server, log)
        self.token = (self.workdir / "data" / "cli-token").read_text().strip()
        return self.health_s

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks, which stop the processes


@contextmanager
def served(
    workdir: Path,
    *,
    latency_ms: float,
    workers: int,
    concurrency: int,
    max_in_flight: int,
    start: bool = True,
) -> Iterator[Served]:
    """PostgreSQL, the stand-in at `latency_ms` and (when `start`) the server; all stopped
    on the way out, also when the bench is stopped with SIGTERM."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    workdir.mkdir(parents=True, exist_ok=True)
    s = Served(workdir)
    s.pg = EmbeddedPostgres(workdir / "pg")
    s.database_url = s.pg.start()
    try:
        port, s.standin, _ = launch_standin(workdir, "--latency-ms", str(latency_ms))
        models = workdir / "models.yaml"
        models.write_text(
            single_endpoint_config(
                f"http://127.0.0.1:{port}/v1",
                GROUPS,
                timeout_seconds=max(60.0, latency_ms / 1000 * 4),
                max_in_flight=max_in_flight,
            )
        )
        s.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("WEAVERGEN_", "DATABASE"))},
            "DATABASE_URL": s.database_url,
            "WEAVERGEN_DATA_DIR": str(workdir / "data"),
            "WEAVERGEN_MODELS": str(models),
            "WEAVERGEN_WORKERS": str(workers),
            "WEAVERGEN_WORKER_CONCURRENCY": str(concurrency),
            "WEAVERGEN_LEARNING_EXPLORATION": "false",
        }
        if "WEAVERGEN_TOOLCHAIN_DIR" in os.environ:
            s.env["WEAVERGEN_TOOLCHAIN_DIR"] = os.environ["WEAVERGEN_TOOLCHAIN_DIR"]
        if start:
            s.start_server()
        yield s
    finally:
        s.stop_server()
        if s.standin is not None:
            s.standin.terminate()
            s.standin.wait(10)
        s.pg.stop()
