"""The sandbox's limits (`Limits`), what a sandboxed command did (`SandboxResult`), and how a
limit hit is told apart from the command failing (`limit_from`)."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

LimitHit = Literal["cpu", "memory", "wall", "processes", "file_size", "output"]


class Limits(BaseModel):
    """Resource limits of one sandboxed command."""

    cpu_seconds: int = Field(20, ge=1)
    memory_mb: int = Field(768, ge=16)
    file_size_mb: int = Field(32, ge=1)
    processes: int = Field(64, ge=4)
    wall_seconds: float = Field(60.0, gt=0)
    output_bytes: int = Field(256_000, ge=1024)
    disk_mb: int = Field(512, ge=16)  # the work dir is a tmpfs of this size (as root)


class SandboxResult(BaseModel):
    """What a sandboxed command did."""

    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: float
    limit_hit: LimitHit | None = None

    @property
    def ok(self) -> bool:
        """Exited 0 within every limit."""
        return self.exit_code == 0 and self.limit_hit is None

    def describe_limit(self, limits: Limits) -> str:
        """A sentence naming the limit that stopped the command."""
        what = {
            "cpu": f"used more than {limits.cpu_seconds} s of CPU",
            "memory": f"used more than {limits.memory_mb} MB of memory",
            "wall": f"ran longer than {limits.wall_seconds:.0f} s",
            "processes": f"tried to run more than {limits.processes} processes",
            "file_size": f"wrote a file larger than {limits.file_size_mb} MB",
            "output": f"printed more than {limits.output_bytes} bytes",
        }
        return f"sandbox limit: the code {what[self.limit_hit]}" if self.limit_hit else ""


def limit_from(code: int | None, output: str, cgroups: list[Path]) -> LimitHit | None:
    """Which limit stopped a command that exited with `code` and printed `output`; None when
    it stopped by itself. The cgroups' OOM counters are read first."""
    for group in cgroups:
        # cgroup v1 counts OOM kills in memory.oom_control, v2 in memory.events
        for counter in ("memory.oom_control", "memory.events"):
            with contextlib.suppress(OSError, ValueError):
                pairs = dict(line.split() for line in (group / counter).read_text().splitlines())
                if int(pairs.get("oom_kill", 0)) > 0:
                    return "memory"
    if code == 0:  # a clean exit hit no limit, whatever its output says
        return None
    # bwrap passes the child's death by signal on as 128 + signal number
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "cpu"
    if code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or "File too large" in output:
        return "file_size"
    if code in (-signal.SIGKILL, 128 + signal.SIGKILL) and "CPU time limit" in output:
        return "cpu"
    if any(s in output for s in ("MemoryError", "Cannot allocate memory", "out of memory")):
        return "memory"
    if "Resource temporarily unavailable" in output or "can't start new thread" in output:
        return "processes"
    return None
