"""Sandbox work dirs and memory cgroups: mounted, named after their process, and swept
when a worker starts.

Every work dir (a tmpfs mount) and memory cgroup a process makes is named after it
(`p<pid>-…`). A process that is SIGKILLed (or whose machine lost power mid-validation) cannot
unmount or remove them; the next worker to start on the machine removes those whose process
is gone, and only those: other live processes' sandboxes are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)
_OWNED = re.compile(r"^p(\d+)-")


def owned_name(suffix: str) -> str:
    """A name that says this process made it: `p<pid>-<suffix>`."""
    return f"p{os.getpid()}-{suffix}"


def _owner_gone(name: str) -> bool:
    match = _OWNED.match(name)
    if match is None:
        return False  # not named by us: never ours to remove
    try:
        return psutil.Process(int(match.group(1))).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


@dataclass
class Swept:
    """What a sweep removed."""

    work_dirs: int = 0
    mounts: int = 0
    cgroups: int = 0

    def __bool__(self) -> bool:
        return bool(self.work_dirs or self.cgroups)


def sweep(base_dir: Path, cgroup_dir: Path | None) -> Swept:
    """Remove work dirs (unmounting their tmpfs) and memory cgroups (killing what is still in
    them) whose process is gone."""
    swept = Swept()
    for entry in _entries(base_dir):
        if not _owner_gone(entry.name):
            continue
        if os.path.ismount(entry):
            subprocess.run(["umount", "-l", str(entry)], check=False, capture_output=True)
            swept.mounts += 1
        shutil.rmtree(entry, ignore_errors=True)
        swept.work_dirs += 1
    for group in _entries(cgroup_dir) if cgroup_dir is not None else []:
        if _owner_gone(group.name) and _remove_cgroup(group):
            swept.cgroups += 1
    if swept:
        log.warning(
            "swept what killed processes left: %d sandbox work dir(s) (%d mounted), "
            "%d memory cgroup(s)",
            swept.work_dirs,
            swept.mounts,
            swept.cgroups,
        )
    return swept


def _entries(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if p.is_dir()]
    except OSError:
        return []


def _remove_cgroup(group: Path) -> bool:
    with contextlib.suppress(OSError, ValueError):
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    try:
        group.rmdir()  # a cgroup's files go with it
    except OSError as exc:
        log.warning("could not remove the leftover cgroup %s: %s", group, exc)
        return False
    return True


async def mount_tmpfs(path: Path, size_mb: int, uid: int) -> bool:
    """Mount a tmpfs of `size_mb` owned by `uid` on `path`; False (logged) where we cannot."""
    proc = await asyncio.create_subprocess_exec(
        "mount",
        "-t",
        "tmpfs",
        "-o",
        f"size={size_mb}m,mode=0700,uid={uid},gid={uid}",
        "tmpfs",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        log.warning(
            "no size-capped tmpfs for the sandbox work dir (%s); disk use is capped per file only",
            err.decode(errors="replace").strip(),
        )
        return False
    return True
