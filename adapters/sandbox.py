"""The sandbox: run a command over a work directory with no network and hard limits.

Each run gets its own unprivileged uid (so the process limit counts only its processes),
a bubblewrap jail (no network, no capabilities, read-only system paths, a tmpfs /tmp, the
work dir as the only writable place, children die with it) and prlimit limits on CPU
seconds, file size and processes. Memory is capped by a cgroup (v1 or v2) where one can be
made, else by the address-space limit. Wall time and output size are enforced here.

A limit hit is reported as such (`limit_hit`), distinct from the command failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path, PurePosixPath

from adapters import sandbox_forkserver as forkserver
from adapters.sandbox_dirs import Swept, mount_tmpfs, owned_name, sweep
from adapters.sandbox_forkserver import Zygote
from adapters.sandbox_limits import Limits, SandboxResult
from adapters.sandbox_run import collect, kill

SYSTEM_PATHS = ("/usr", "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates")
log = logging.getLogger(__name__)
JAIL_TMP = "/tmp"  # noqa: S108 - a private tmpfs inside the jail
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/work",
    "TMPDIR": JAIL_TMP,
    "LANG": "C.UTF-8",
}
UID_LOCKS = Path("/run/weavergen/sandbox-uids")
UID_BASE = 200_000
UID_SLOTS = 10_000


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here; the message says what to install or change."""


class Sandbox:
    """Runs commands jailed; `session()` gives a work dir for several commands."""

    def __init__(
        self,
        *,
        read_only: Sequence[Path] = (),
        base_dir: Path = Path(tempfile.gettempdir()) / "weavergen-sandbox",
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        fork_server: bool = True,
    ) -> None:
        self.read_only = [Path(p) for p in read_only]
        self.base_dir = base_dir
        self.cgroup_root = cgroup_root
        self.as_root = os.geteuid() == 0
        self._slots: set[int] = set()
        self._checked = False
        self.fork_server = fork_server and self.as_root
        self._zygotes: dict[tuple[str, str], Zygote] = {}

    def check(self) -> None:
        """Raise SandboxUnavailable naming what is missing."""
        for tool in ("bwrap", "prlimit") + (("setpriv",) if self.as_root else ()):
            if shutil.which(tool) is None:
                package = {"bwrap": "bubblewrap", "prlimit": "util-linux", "setpriv": "util-linux"}
                raise SandboxUnavailable(
                    f"{tool} is not installed; install Debian's {package[tool]} (make install does)"
                )
        for path in self.read_only:
            if not path.exists():
                raise SandboxUnavailable(
                    f"sandbox tool path {path} does not exist; run make install"
                )
            if self.as_root and not _world_traversable(path):
                raise SandboxUnavailable(
                    f"sandbox tool path {path} is not readable by other users; the sandbox runs "
                    "code as an unprivileged uid, so put the toolchain in a world-readable place"
                )

    @contextlib.asynccontextmanager
    async def session(self, disk_mb: int = 512) -> AsyncIterator[SandboxSession]:
        """A fresh work dir (a size-capped tmpfs when root) and uid, removed afterwards."""
        if not self._checked:
            self.check()
            self._checked = True
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o711)
        slot, lock = self._take_slot()
        uid = UID_BASE + slot
        workdir = self.base_dir / owned_name(uuid.uuid4().hex)
        mounted = False
        try:
            workdir.mkdir(mode=0o700)
            if self.as_root:
                # a tmpfs caps what generated code can write in total, not just per file
                mounted = await mount_tmpfs(workdir, disk_mb, uid)
                os.chown(workdir, uid, uid)
            yield SandboxSession(self, workdir, uid)
        finally:
            if mounted:
                await asyncio.to_thread(
                    subprocess.run, ["umount", "-l", str(workdir)], check=False, capture_output=True
                )
            await asyncio.to_thread(shutil.rmtree, workdir, True)
            self._slots.discard(slot)
            os.close(lock)  # releases the uid for other processes

    def sweep(self) -> Swept:
        """Remove the work dirs and cgroups of sandbox users that were killed (at start-up)."""
        parent = self._cgroup_parent()
        return sweep(self.base_dir, parent[0] if parent is not None else None)

    def _take_slot(self) -> tuple[int, int]:
        """A uid slot no other session holds, in this process or any other (an flock)."""
        # one place for every process on the machine, whatever its base dir
        locks = UID_LOCKS if self.as_root else self.base_dir / "uids"
        locks.mkdir(mode=0o700, parents=True, exist_ok=True)
        while True:
            slot = random.randrange(UID_SLOTS)  # noqa: S311 - not security relevant
            if slot in self._slots:
                continue
            fd = os.open(locks / str(slot), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._slots.add(slot)
            return slot, fd

    def _cgroup_parent(self) -> tuple[Path, str] | None:
        """The directory our memory cgroups go in and the limit file's name; None where none
        can be made (then RLIMIT_AS)."""
        if not self.as_root:
            return None
        v1 = self.cgroup_root / "memory"
        try:
            if (v1 / "memory.limit_in_bytes").exists():
                (v1 / "weavergen").mkdir(exist_ok=True)
                return v1 / "weavergen", "memory.limit_in_bytes"
            if (self.cgroup_root / "cgroup.controllers").exists():
                (self.cgroup_root / "weavergen").mkdir(exist_ok=True)
                return self.cgroup_root / "weavergen", "memory.max"
        except OSError:
            return None
        return None

    def _cgroup(self, name: str, memory_bytes: int) -> list[Path]:
        """Memory cgroup(s) for one command; [] where none can be made (then RLIMIT_AS)."""
        parent = self._cgroup_parent()
        if parent is None:
            return []
        try:
            group = parent[0] / name
            group.mkdir()
            (group / parent[1]).write_text(str(memory_bytes))
            # swap accounting exists only where the kernel has it on
            swap = "memory.memsw.limit_in_bytes" if parent[1].endswith("in_bytes") else None
            with contextlib.suppress(OSError):
                if swap:
                    (group / swap).write_text(str(memory_bytes))
                else:
                    (group / "memory.swap.max").write_text("0")
            return [group]
        except OSError:
            return []

    def _jail(self, workdir: Path | None, limits: Limits, env: Mapping[str, str]) -> list[str]:
        """bubblewrap's arguments: a command's own jail over `workdir`, or (None) a fork
        server's, which keeps the capabilities its children need to build their own view
        and sees every work dir."""
        zygote = workdir is None
        if zygote:
            jail = ["bwrap", *(f"--unshare-{ns}" for ns in ("ipc", "pid", "net", "uts"))]
            jail += ["--cap-drop", "ALL", *(a for c in forkserver.CAPS for a in ("--cap-add", c))]
        else:
            jail = ["bwrap", "--unshare-all", "--cap-drop", "ALL"]
        jail += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
        for link in ("bin", "lib", "lib64", "sbin"):
            jail += ["--symlink", f"usr/{link}", f"/{link}"]
        for path in SYSTEM_PATHS:
            jail += ["--ro-bind-try", path, path]
        for tool in self.read_only:
            if zygote:  # as root bwrap makes the parents 0700: its children could not reach in
                parents = reversed(tool.parents[:-1])
                jail += [a for p in parents for a in ("--perms", "0755", "--dir", str(p))]
            jail += ["--ro-bind", str(tool), str(tool)]
        jail += ["--proc", "/proc", "--dev", "/dev"]
        shm, tmp = limits.memory_mb * 1024 * 1024 // 4, limits.memory_mb * 1024 * 1024
        if zygote:  # mount points; each child mounts its own over them
            jail += ["--tmpfs", "/dev/shm", "--tmpfs", JAIL_TMP, "--dir", "/work"]  # noqa: S108
            jail += ["--bind", str(self.base_dir), forkserver.WORK_BASE]
            parent = self._cgroup_parent()
            if parent is not None:
                jail += ["--bind", str(parent[0]), str(parent[0])]
        else:
            jail += ["--size", str(shm), "--tmpfs", "/dev/shm"]  # noqa: S108 - jail's own
            jail += ["--size", str(tmp), "--tmpfs", JAIL_TMP]
            jail += ["--bind", str(workdir), "/work", "--chdir", "/work"]
        # the jail's own root: nothing but /work and /tmp is writable
        jail += ["--remount-ro", "/", "--clearenv"]
        for key, value in {**BASE_ENV, **env}.items():
            jail += ["--setenv", key, value]
        return jail

    def _command(
        self,
        argv: Sequence[str],
        workdir: Path,
        uid: int,
        limits: Limits,
        env: Mapping[str, str],
        cgroups: list[Path],
    ) -> list[str]:
        jail = self._jail(workdir, limits, env)
        limit = [
            "prlimit",
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
            f"--fsize={limits.file_size_mb * 1024 * 1024}",
            f"--nproc={limits.processes}",
            "--core=0",
        ]
        if not cgroups:
            limit.append(f"--as={limits.memory_mb * 1024 * 1024 * 4}")
        command = [*limit, "--", *jail, "--", *argv]
        if self.as_root:
            command = [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--",
                *command,
            ]
        if cgroups:
            joins = " && ".join(f'echo $$ > "{g}/cgroup.procs"' for g in cgroups)
            # never run without the memory cap: if joining fails, nothing runs
            command = ["sh", "-c", f'{joins} && exec "$@"', "sandbox", *command]
        return command

    def forks(self) -> bool:
        """Whether Python tools run forked from a fork server (as root, with cgroups)."""
        return self.fork_server and self._cgroup_parent() is not None

    async def zygote(self, python: str, module: str, preload: Sequence[str]) -> Zygote:
        """The fork server for `python -m module`, with `preload` imported; started once."""
        key = (python, module)
        if key not in self._zygotes:
            forkserver.share_mounts(self.base_dir)
            jail = self._jail(None, Limits(), {})
            self._zygotes[key] = Zygote(module, jail, python, preload)
        return self._zygotes[key]

    def close(self) -> None:
        """Stop the fork servers."""
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()


class SandboxSession:
    """A work dir owned by one unprivileged uid; files in, commands run, files out."""

    def __init__(self, sandbox: Sandbox, workdir: Path, uid: int) -> None:
        self.sandbox = sandbox
        self.workdir = workdir
        self.uid = uid

    def write(self, files: Mapping[str, str]) -> None:
        """Write files into the work dir (names must stay inside it)."""
        for name, content in files.items():
            wrong = bad_file_name(name)
            if wrong is not None:
                raise ValueError(wrong)
            path = self.workdir / PurePosixPath(name)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                raise ValueError(f"file name {name!r} clashes with another file: {exc}") from None
        if self.sandbox.as_root:
            for root, dirs, names in os.walk(self.workdir):
                for entry in [*dirs, *names]:
                    os.chown(os.path.join(root, entry), self.uid, self.uid)

    async def run(
        self,
        argv: Sequence[str],
        *,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SandboxResult:
        """Run `argv` in the jail with the work dir as /work."""
        limits = limits or Limits()
        cgroups = self._cgroups(limits)
        command = self.sandbox._command(argv, self.workdir, self.uid, limits, env or {}, cgroups)
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        stop = lambda: kill(proc.pid, cgroups)  # noqa: E731
        return await collect(argv, proc, stop, limits, cgroups, start, finish=stop)

    async def run_module(
        self,
        python: str,
        module: str,
        args: Sequence[str],
        *,
        preload: Sequence[str] = (),
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SandboxResult:
        """`python -I -m module args…` in the jail: forked from a fork server that imported
        the module (and `preload`) once, where the sandbox has one; else started afresh."""
        argv = [python, "-I", "-m", module, *args]
        if not self.sandbox.forks():
            return await self.run(argv, limits=limits, env=env)
        try:
            zygote = await self.sandbox.zygote(python, module, preload)
            await zygote.start()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            # slower, not broken: start the tool afresh
            log.warning("no fork server for %s (%s); starting it afresh", module, exc)
            return await self.run(argv, limits=limits, env=env)
        limits = limits or Limits()
        cgroups = self._cgroups(limits)
        request = {
            "module": module,
            "args": list(args),
            "env": {**BASE_ENV, **(env or {})},
            "workdir": self.workdir.name,
            "uid": self.uid,
            "cgroups": [str(g) for g in cgroups],
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_mb * 1024 * 1024,
            "file_size_bytes": limits.file_size_mb * 1024 * 1024,
            "processes": limits.processes,
        }
        start = time.perf_counter()
        proc = await zygote.fork(request)

        def stop() -> None:
            proc.kill()
            kill(None, cgroups)

        # its monitor kills what the command left in its session; the cgroup's rest here
        finish = lambda: kill(None, cgroups)  # noqa: E731
        return await collect(argv, proc, stop, limits, cgroups, start, finish=finish)

    def _cgroups(self, limits: Limits) -> list[Path]:
        name = owned_name(f"{self.uid}-{uuid.uuid4().hex[:8]}")
        return self.sandbox._cgroup(name, limits.memory_mb * 1024 * 1024)


def bad_file_name(name: str) -> str | None:
    """Why `name` cannot be a file in a work dir, or None when it can."""
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or len(name) > 200 or "\0" in name:
        return (
            f"file name {name[:200]!r} must be a relative path inside the work dir, "
            "at most 200 characters"
        )
    return None


def _world_traversable(path: Path) -> bool:
    for part in [path, *path.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return True
