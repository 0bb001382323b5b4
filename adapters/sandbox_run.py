"""Running a started sandboxed command to its end: its output read within the output
budget and the wall-time limit, how it ended (`SandboxResult`, a limit hit told apart from
a failure), and what it left (processes, cgroups) removed. Shared by commands started
afresh and commands forked from a fork server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from adapters.sandbox_forkserver import ForkedProcess
from adapters.sandbox_limits import LimitHit, Limits, SandboxResult, limit_from


async def collect(
    argv: Sequence[str],
    proc: asyncio.subprocess.Process | ForkedProcess,
    stop: Callable[[], None],
    limits: Limits,
    cgroups: list[Path],
    start: float,
    *,
    finish: Callable[[], None],
) -> SandboxResult:
    """Read a started command's output within the limits and say how it ended: `stop` kills
    it at a limit, `finish` removes what it left once its output has ended."""
    hit: LimitHit | None = None
    budget = [limits.output_bytes]
    ended = False
    try:
        out, err = await asyncio.wait_for(
            asyncio.gather(_read(proc.stdout, budget, stop), _read(proc.stderr, budget, stop)),
            timeout=limits.wall_seconds,
        )
        if budget[0] < 0:
            hit = "output"
        ended = True
    except TimeoutError:
        hit, out, err = "wall", b"", b"(stopped at the wall-time limit)"
    finally:
        (finish if ended else stop)()
        # asyncio's wait() returns only once the pipes are read to EOF
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(_drain(proc.stdout), _drain(proc.stderr)), 10)
        code = await proc.wait()
        finish()
    duration = (time.perf_counter() - start) * 1000
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    # test runners print the child's errors to stdout: look at the end of both
    hit = hit or limit_from(code, stdout[-4000:] + stderr[-4000:], cgroups)
    await remove_cgroups(cgroups)
    return SandboxResult(
        argv=list(argv),
        exit_code=code,
        stdout=stdout,
        stderr=stderr,
        duration_ms=duration,
        limit_hit=hit,
    )


async def _read(
    stream: asyncio.StreamReader | None, budget: list[int], over: Callable[[], None]
) -> bytes:
    """Read until EOF, keeping at most the shared budget; call `over` once it is spent."""
    assert stream is not None
    chunks = []
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        if budget[0] > 0:
            chunks.append(chunk[: budget[0]])
        budget[0] -= len(chunk)
        if budget[0] < 0:
            over()
            break
    return b"".join(chunks)


async def remove_cgroups(cgroups: list[Path]) -> None:
    for group in cgroups:
        for _ in range(50):  # the last processes may take a moment to leave
            try:
                group.rmdir()
                break
            except OSError:
                await asyncio.sleep(0.02)


async def _drain(stream: asyncio.StreamReader | None) -> None:
    while stream is not None and await stream.read(65536):
        pass


def kill(pid: int | None, cgroups: list[Path]) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for group in cgroups:
        with contextlib.suppress(OSError):
            for line in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line), signal.SIGKILL)
