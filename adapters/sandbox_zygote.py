"""The fork server's side inside the jail: import a tool once, fork a fresh child per command.

Run by the sandbox's own Python (`python -I -c <this file>`) inside a bubblewrap jail (no
network, read-only system, capabilities limited to mounting, bringing up a loopback and
changing uid), given its control socket's fd and then the modules to import. It never
runs generated code itself. Per request it forks a *monitor*, which forks the *worker* and
reports its exit status. The worker builds its own world before running the tool: new
mount, network and IPC namespaces, its work dir at /work, a fresh tmpfs on /tmp and
/dev/shm, the other work dirs hidden; it joins the request's memory cgroup, sets the
limits, drops to the request's unprivileged uid (which clears every capability) and only
then runs the tool's `__main__` as `python -I -m <module>` would.

Standard library only: this file runs with the sandbox's Python, not the project's.
"""

import contextlib
import ctypes
import fcntl
import gc
import json
import os
import resource
import runpy
import select
import signal
import socket
import struct
import sys
import traceback

WORK_BASE = "/sandboxes"  # the host's sandbox base dir, bound here
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x08000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _own_view(req: dict, hide: list[str]) -> None:
    """Private mount, network and IPC namespaces (nothing a command leaves or listens on is
    seen by another): this request's work dir at /work, fresh /tmp and /dev/shm."""
    uid, memory, workdir = req["uid"], req["memory_bytes"], req["workdir"]
    if not workdir or "/" in workdir or workdir.startswith("."):
        raise ValueError(f"bad work dir name {workdir!r}")
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC), "unshare")
    _loopback_up()  # as bubblewrap does: code may talk to itself over 127.0.0.1, no further
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    owned = f"mode=0700,uid={uid},gid={uid}"
    for target, size in (("/tmp", memory), ("/dev/shm", memory // 4)):  # noqa: S108 - private
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},{owned}")
    _mount(f"{WORK_BASE}/{workdir}", "/work", None, MS_BIND | MS_REC)
    for path in [WORK_BASE, *hide]:  # the other work dirs, the cgroups (joined already)
        _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING)
        fcntl.ioctl(sock, SIOCSIFFLAGS, request)


def _limit(req: dict) -> None:
    cpu = req["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    size = req["file_size_bytes"]
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NPROC, (req["processes"], req["processes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not req["cgroups"]:
        space = req["memory_bytes"] * 4
        resource.setrlimit(resource.RLIMIT_AS, (space, space))


def _worker(req: dict, out: int, err: int) -> int:
    """The child that runs the tool; returns its exit status."""
    os.setsid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for group in req["cgroups"]:  # "0": the writing process itself; before dropping root
        with open(f"{group}/cgroup.procs", "w") as procs:
            procs.write("0")
    _own_view(req, hide=["/sys"] if req["cgroups"] else [])
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.closerange(3, 65536)
    _limit(req)
    uid = req["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # leaves root: every capability is gone from here on
    os.chdir("/work")
    os.environ.clear()
    os.environ.update(req["env"])
    sys.argv = [req["module"], *req["args"]]
    sys.dont_write_bytecode = True
    try:
        runpy.run_module(req["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - the tool crashed: report it like the interpreter
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


def _monitor(req: dict, conn: socket.socket, out: int, err: int) -> None:
    """Fork the worker, stop it when the host asks or goes away, report how it ended."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        code = 1
        try:
            code = _worker(req, out, err)
        except BaseException:  # noqa: BLE001 - setting up failed: say so on the tool's stderr
            os.write(err, traceback.format_exc().encode())
            code = 125
        finally:
            os._exit(code)
    os.close(out)
    os.close(err)
    ended = os.pidfd_open(pid)
    while True:
        ready, _, _ = select.select([conn.fileno(), ended], [], [])
        if ended in ready:
            break
        if not conn.recv(64):  # the host closed the request (or sent "kill"): stop now
            os.kill(pid, signal.SIGKILL)
            break
    _, status = os.waitpid(pid, 0)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)  # whatever it started and left behind
    with contextlib.suppress(OSError):
        conn.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    for module in sys.argv[2:]:
        __import__(module)
    # what is imported stays put: the collector leaves it alone in every child, so children
    # do not copy those pages merely by scanning them
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped by the kernel
    control.send(b"ready")
    while True:
        message, fds, _, _ = socket.recv_fds(control, 65536, 3)
        if not message:
            return  # the host is gone
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            continue
        conn_fd, out, err = fds
        if os.fork() == 0:
            control.close()
            try:
                _monitor(json.loads(message), socket.socket(fileno=conn_fd), out, err)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    main()
