"""The sandbox's fork server: commands forked from one long-lived interpreter share nothing
but its read-only imported code — each has its own /tmp, work dir, uid and network (a
loopback of its own), sees no other work dir and no cgroup files — and a fork server that
dies is started again."""

from __future__ import annotations

import asyncio
import os
import signal

from adapters.sandbox import Limits, Sandbox
from validation.mesh import ValidationMesh
from validation.tool_paths import Toolchain

PROBE = """
import os, socket, time

def test_isolated():
    assert os.getcwd() == "/work" and os.getuid() != 0
    assert sorted(os.listdir("/work")) == sorted(["test_probe.py", "{name}.txt"]), "own files only"
    assert os.listdir("/tmp") == [], "an empty /tmp of its own"
    assert os.listdir("/dev/shm") == []
    assert not os.path.isdir("/sandboxes") or os.listdir("/sandboxes") == [], "no other work dir"
    assert not os.path.isdir("/sys") or os.listdir("/sys") == [], "no cgroup files"
    for path in ("/tmp/left", "/dev/shm/left", "/work/left"):
        open(path, "w").write("x")

def test_own_loopback():
    # every probe takes the same port at the same time: each has a network of its own
    server = socket.create_server(("127.0.0.1", 45678))
    socket.create_connection(("127.0.0.1", 45678), timeout=2).close()
    time.sleep(0.5)
    server.close()
"""


def test_the_fork_server_is_what_runs_python_tools_here(toolchain: Toolchain) -> None:
    sandbox = Sandbox(read_only=toolchain.read_only_paths())
    # as root with memory cgroups (this machine, CI): every Python stage is forked
    assert sandbox.forks(), "expected the fork server (root, cgroups) on this machine"


async def test_forked_commands_share_nothing(mesh: ValidationMesh) -> None:
    def files(name: str) -> dict[str, str]:
        return {"test_probe.py": PROBE.replace("{name}", name), f"{name}.txt": name}

    reports = await asyncio.gather(*(mesh.validate("python", files(n)) for n in "abc"))
    reports.append(await mesh.validate("python", files("d")))
    for report in reports:
        tests = report.stages[-1]
        assert tests.status == "passed", tests.detail[-1500:]


async def test_a_dead_fork_server_is_started_again(toolchain: Toolchain) -> None:
    sandbox = Sandbox(read_only=toolchain.read_only_paths())
    mesh = ValidationMesh(sandbox, toolchain, limits=Limits(wall_seconds=60))
    files = {
        "solution.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
        "test_solution.py": "from solution import add\n\n\ndef test_add():\n"
        "    assert add(2, 3) == 5\n",
    }
    try:
        assert (await mesh.validate("python", files)).passed
        zygotes = list(sandbox._zygotes.values())
        assert zygotes and all(z.proc is not None for z in zygotes)
        for zygote in zygotes:
            assert zygote.proc is not None
            os.kill(zygote.proc.pid, signal.SIGKILL)
            zygote.proc.wait(10)
        report = await mesh.validate("python", files)
        assert report.passed, [(s.name, s.status, s.detail[-300:]) for s in report.stages]
    finally:
        sandbox.close()


async def test_a_fork_server_that_cannot_start_falls_back_to_a_fresh_start(
    toolchain: Toolchain,
) -> None:
    sandbox = Sandbox(read_only=toolchain.read_only_paths())
    try:
        async with sandbox.session() as session:
            session.write({"data.json": '{"b": 1, "a": 2}'})
            result = await session.run_module(
                toolchain.python,
                "json.tool",
                ["--sort-keys", "data.json"],
                preload=("weavergen_no_such_module",),  # the fork server dies importing it
                limits=Limits(wall_seconds=30),
            )
        assert result.ok, result.stderr
        assert result.stdout.index('"a"') < result.stdout.index('"b"')
    finally:
        sandbox.close()
