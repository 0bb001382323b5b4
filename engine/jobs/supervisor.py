"""Worker child processes for `weavergen serve`: the API's event loop serves only the API.

Each worker is `python -m engine.jobs.worker` against the server's database. A worker that
dies is started again after a pause that doubles (to 30 s) while workers keep dying young;
a worker gets SIGTERM when the server process dies, however it dies (PR_SET_PDEATHSIG), and
runs at a lower CPU priority (nice 10) so that the API stays responsive on busy cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
HEALTHY_AFTER_S = 60.0  # a worker that lived this long resets the restart pause
WORKER_NICENESS = 10


def _child_setup() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # the API answers first when the cores are busy: workers yield the CPU to it
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


class WorkerSupervisor:
    """Keeps `count` worker processes running until `stop`."""

    def __init__(self, count: int, *, database_url: str, concurrency: int) -> None:
        self.count = count
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "WEAVERGEN_WORKER_CONCURRENCY": str(concurrency),
        }
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self._keepers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the workers (in the background; returns at once)."""
        self._keepers = [asyncio.create_task(self._keep(i)) for i in range(self.count)]

    def alive(self) -> int:
        """How many worker processes are running now."""
        return sum(1 for p in self.procs.values() if p.returncode is None)

    async def _keep(self, index: int) -> None:
        pause = 1.0
        while True:
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "engine.jobs.worker",
                f"--index={index}",
                env=self.env,
                preexec_fn=_child_setup,  # noqa: PLW1509 - prctl and nice only
            )
            self.procs[index] = proc
            log.info("worker %d started (pid %d)", index, proc.pid)
            code = await proc.wait()
            if time.monotonic() - started > HEALTHY_AFTER_S:
                pause = 1.0
            log.warning(
                "worker %d (pid %d) exited with %s; restarting in %.0f s",
                index,
                proc.pid,
                code,
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every worker (they finish or hand back their jobs), SIGKILL after `timeout`."""
        for keeper in self._keepers:
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)
        running = [p for p in self.procs.values() if p.returncode is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), timeout)
        except TimeoutError:
            for proc in running:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await asyncio.gather(*(p.wait() for p in running))
