"""The sandbox's fork server: pay a Python tool's start-up once, not per command.

One long-lived *zygote* per (interpreter, module) runs `adapters/sandbox_zygote.py` in a
bubblewrap jail (no network, read-only system, its own pid/ipc/uts namespaces) with the
tool already imported. Each command is a fresh child forked from it, which builds its own
mount view (its work dir at /work, a private /tmp), joins the command's memory cgroup, sets
the same prlimit limits and drops to the session's unprivileged uid before the tool runs:
the same isolation as a `bwrap … python -I -m tool` start, without the start.

Only as root with memory cgroups (what the isolation needs); elsewhere the sandbox starts
each command as before. The zygote restarts on the next command if it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)
ZYGOTE = Path(__file__).with_name("sandbox_zygote.py")
WORK_BASE = "/sandboxes"  # where the zygote sees the sandbox base dir (sandbox_zygote.py)
# a child's own view (mounts, namespaces), its loopback, then the drop to its uid
CAPS = ("CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SETUID", "CAP_SETGID")


class ForkedProcess:
    """A command forked by a zygote: its output streams, and how to stop and wait for it."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.stdout = asyncio.StreamReader()
        self.stderr = asyncio.StreamReader()
        self._code: int | None = None

    def kill(self) -> None:
        """Have the zygote's monitor kill the command: it does when the request is closed."""
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_WR)

    async def wait(self) -> int | None:
        """The exit status (negative: killed by that signal); None if the zygote died."""
        loop = asyncio.get_running_loop()
        try:
            reply = await loop.sock_recv(self.conn, 4096)
            self._code = int(json.loads(reply)["exit"]) if reply else None
        except (OSError, ValueError, KeyError) as exc:
            log.warning("the sandbox fork server lost a command: %r", exc)
            self._code = None
        finally:
            self.conn.close()
        return self._code


class Zygote:
    """One jailed interpreter with `modules` imported, forking a child per command; `name`
    says which tool it serves."""

    def __init__(self, name: str, jail: Sequence[str], python: str, modules: Sequence[str]) -> None:
        self.name = name
        self.argv = [*jail, "--", python, "-I", "-c", ZYGOTE.read_text()]
        self.modules = list(modules)
        self.control: socket.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> socket.socket:
        """The control socket of a running zygote, started (and waited for) if need be."""
        async with self._lock:
            if self.control is not None and self.proc is not None and self.proc.poll() is None:
                return self.control
            self.close()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            # started from this (the loop's) thread: bwrap dies with the thread that started it
            self.proc = subprocess.Popen(  # noqa: S603, ASYNC220 - a fixed argv; fork+exec only
                [*self.argv, str(theirs.fileno()), *self.modules],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
            )
            theirs.close()
            ours.setblocking(False)
            try:
                ready = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(ours, 16), 60)
            except TimeoutError:
                ready = b""
            if ready != b"ready":
                ours.close()
                self.close()
                raise RuntimeError(
                    "the sandbox's fork server did not start (its error is in the log above)"
                )
            self.control = ours
            return ours

    async def fork(self, request: Mapping[str, object]) -> ForkedProcess:
        """Fork a child for `request`; its output arrives on the returned process's streams."""
        control = await self.start()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            message = json.dumps(request).encode()
            socket.send_fds(control, [message], [theirs.fileno(), out_w, err_w])
        except OSError:
            for fd in (out_r, err_r):
                os.close(fd)
            ours.close()
            raise
        finally:
            theirs.close()
            os.close(out_w)
            os.close(err_w)
        ours.setblocking(False)
        proc = ForkedProcess(ours)
        loop = asyncio.get_running_loop()
        for fd, reader in ((out_r, proc.stdout), (err_r, proc.stderr)):
            protocol = functools.partial(asyncio.StreamReaderProtocol, reader)
            await loop.connect_read_pipe(protocol, os.fdopen(fd, "rb", buffering=0))
        return proc

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.proc is not None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            self.proc = None


def share_mounts(base_dir: Path) -> None:
    """Make `base_dir` a shared mount, so the work dirs mounted in it after a zygote started
    (each a size-capped tmpfs) appear inside that zygote's jail too."""
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    target = str(base_dir)
    for line in mounts:
        fields = line.split()
        if fields[4] == target and any(f.startswith("shared:") for f in fields[6:]):
            return
    if not any(line.split()[4] == target for line in mounts):
        # recursive: work dirs other processes mounted in it already stay visible through it
        subprocess.run(["mount", "--rbind", target, target], check=True, capture_output=True)
    subprocess.run(["mount", "--make-shared", target], check=True, capture_output=True)
