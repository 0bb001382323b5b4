"""`serve` and its workers SIGKILLed during 5 validations: after a restart nothing of theirs
remains, no sandbox mount, no work dir, no memory cgroup."""

from __future__ import annotations

import contextlib
import re
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.api.helpers import start_run
from tests.servers import Cluster, Environment, make_environment, start_standin, wait_run

BASE = Path(tempfile.gettempdir()) / "weavergen-sandbox"
CGROUPS = [Path("/sys/fs/cgroup/memory/weavergen"), Path("/sys/fs/cgroup/weavergen")]


@pytest.fixture()
def sweep_env(cluster: Cluster, workroot: Path) -> Iterator[Environment]:
    slow = start_standin(workroot, "--latency-ms", "200")
    env = make_environment(cluster, slow, "sweep", workroot)
    env.start_server(workers=1)
    yield env
    env.stop()
    slow.proc.terminate()
    slow.proc.wait(10)


def _left_by(pids: set[int]) -> list[str]:
    """Work dirs, mounts and cgroups named after one of `pids`."""
    owned = re.compile(r"(?:^|/)p(\d+)-")

    def theirs(name: str) -> bool:
        match = owned.search(name)
        return match is not None and int(match.group(1)) in pids

    dirs = [str(p) for p in BASE.glob("p*-*") if theirs(p.name)]
    mounts = [m.split()[1] for m in Path("/proc/mounts").read_text().splitlines()]
    mounted = [m for m in mounts if m.startswith(str(BASE)) and theirs(m)]
    groups = [str(g) for root in CGROUPS for g in root.glob("p*-*") if theirs(g.name)]
    return dirs + mounted + groups


def test_restart_sweeps_what_killed_validations_left(sweep_env: Environment) -> None:
    env = sweep_env
    assert env.server is not None
    server = psutil.Process(env.server.pid)
    with env.client() as api:
        run_ids = [start_run(api, f"Write a function add(a, b) run {i}", "quick") for i in range(5)]
        killed: set[int] = set()
        for _ in range(600):  # bounded: 60 s for the validations to begin
            tree = [server, *server.children(recursive=True)]
            killed = {p.pid for p in tree}
            if _left_by(killed):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("no validation began within 60 s")
        for proc in tree:  # everything at once, as the OOM killer or a power cut would
            with contextlib.suppress(psutil.NoSuchProcess):  # a short-lived child just ended
                proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(tree, timeout=10)
        leftovers = _left_by(killed)
        assert leftovers, "the kill left sandboxes behind (else this test shows nothing)"
        env.start_server(workers=1)
        for _ in range(300):  # bounded: 30 s after /health for the worker's sweep
            if not _left_by(killed):
                break
            time.sleep(0.1)
        assert _left_by(killed) == [], f"left after the restart (was: {leftovers})"
    with env.client() as api:  # and the runs go on
        runs = [wait_run(api, run_id, timeout=180) for run_id in run_ids]
    assert [r["status"] for r in runs] == ["completed"] * 5
