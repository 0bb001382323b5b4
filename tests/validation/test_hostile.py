"""Hostile generated code stays in the sandbox: no network (not even the host's loopback
services), no view of /root or the repository, no writes outside its work dir, and fork
bombs, memory hogs and endless loops are stopped and reported as limit hits."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from adapters.sandbox import Limits
from validation.mesh import ValidationMesh

ROOT = Path(__file__).resolve().parents[2]
SMALL = Limits(cpu_seconds=3, memory_mb=256, processes=48, wall_seconds=15, file_size_mb=8)


def stage_of(report):  # type: ignore[no-untyped-def]
    return next(s for s in report.stages if s.name == "tests")


async def test_no_network_even_to_host_loopback(mesh: ValidationMesh) -> None:
    hits: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.read(100))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = f"""
import socket, pytest

def test_cannot_reach_host_service():
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"escaped")

def test_no_dns_or_routes():
    with pytest.raises(OSError):
        socket.getaddrinfo("pypi.org", 443)
"""
    async with server:
        report = await mesh.validate("python", {"test_net.py": code})
    assert stage_of(report).status == "passed", stage_of(report).detail
    assert hits == [], "the host's service saw a connection from the sandbox"


async def test_cannot_read_root_or_the_repository(mesh: ValidationMesh) -> None:
    code = f"""
import os, pytest

def test_root_is_invisible():
    assert not os.path.exists("/root")

def test_repository_is_invisible():
    assert not os.path.exists({str(ROOT)!r})
    assert not os.path.exists("/etc/shadow")

def test_runs_unprivileged():
    assert os.getuid() != 0 and os.getgid() != 0
"""
    report = await mesh.validate("python", {"test_fs.py": code})
    assert stage_of(report).status == "passed", stage_of(report).detail


async def test_cannot_write_outside_the_work_dir(mesh: ValidationMesh, tmp_path: Path) -> None:
    marker = f"weavergen-escape-{os.getpid()}"
    code = f"""
import os, pytest

def test_system_paths_are_read_only():
    for path in ("/usr/{marker}", "/etc/{marker}", "/opt/{marker}"):
        with pytest.raises(OSError):
            open(path, "w").write("x")

def test_tmp_is_private():
    open("/tmp/{marker}", "w").write("x")
    open("/work/inside.txt", "w").write("ok")
"""
    report = await mesh.validate("python", {"test_write.py": code})
    assert stage_of(report).status == "passed", stage_of(report).detail
    for path in (Path("/tmp") / marker, Path("/usr") / marker, Path("/opt") / marker):
        assert not path.exists()


@pytest.mark.parametrize(
    ("name", "body", "limit"),
    [
        ("fork_bomb", "import os\n    while True:\n        os.fork()", "processes"),
        (
            "memory_hog",
            "x = []\n    while True:\n        x.append(bytearray(32 * 1024 * 1024))",
            "memory",
        ),
        ("busy_forever", "while True:\n        pass", "cpu"),
        ("sleep_forever", "import time\n    time.sleep(3600)", "wall"),
        ("huge_file", "open('big', 'wb').write(b'x' * (64 * 1024 * 1024))", "file_size"),
        ("flood_output", "while True:\n        print('x' * 10000)", "output"),
    ],
)
async def test_limits_are_reported_as_limit_hits(
    mesh_factory,
    name: str,
    body: str,
    limit: str,  # type: ignore[no-untyped-def]
) -> None:
    limits = SMALL
    if limit == "wall":
        limits = SMALL.model_copy(update={"wall_seconds": 6})
    if limit == "processes":  # enough memory that the process limit is what stops it
        limits = SMALL.model_copy(update={"memory_mb": 1536})
    mesh = mesh_factory(limits)
    code = f"def test_{name}():\n    {body}\n"
    report = await mesh.validate("python", {f"test_{name}.py": code})
    stage = stage_of(report)
    assert stage.status == "limit", (stage.status, stage.detail[-500:])
    assert stage.limit_hit == limit
    assert stage.findings[0].rule == f"sandbox.{limit}"
    assert stage.findings[0].message.startswith("sandbox limit:")
    assert not report.passed
    # the host is unaffected: it can still start processes, and nothing of the sandbox is left
    assert subprocess.run(["true"], timeout=10).returncode == 0
    leftovers = subprocess.run(["pgrep", "-f", f"test_{name}.py"], capture_output=True, text=True)
    assert leftovers.stdout == ""


async def test_filling_the_disk_stops_at_the_work_dir_cap(mesh_factory) -> None:  # type: ignore[no-untyped-def]
    mesh = mesh_factory(SMALL.model_copy(update={"disk_mb": 64, "file_size_mb": 30}))
    code = (
        "def test_fill():\n    for i in range(60):\n"
        "        open(f'f{i}', 'wb').write(b'x' * (30 * 1024 * 1024))\n"
    )
    report = await mesh.validate("python", {"test_fill.py": code})
    assert stage_of(report).status != "passed", "60 x 30 MB cannot fit in a 64 MB work dir"
    assert not report.passed


async def test_a_fifo_instead_of_the_junit_file_does_not_hang(mesh: ValidationMesh) -> None:
    code = (
        "import os\n\ndef test_trap():\n"
        "    os.mkfifo('/work/.weavergen-junit.xml')\n    os._exit(1)\n"
    )
    report = await asyncio.wait_for(mesh.validate("python", {"test_trap.py": code}), 60)
    assert not report.passed


async def test_generated_files_cannot_fake_a_pass(mesh: ValidationMesh) -> None:
    files = {
        "solution.py": "import subprocess\n\n\ndef run(cmd):\n"
        "    return subprocess.call(cmd, shell=True)\n",
        "bandit.py": "print('{\"results\": []}')\n",  # would shadow the real bandit
        "conftest.py": "def pytest_sessionfinish(session):\n    session.exitstatus = 0\n",
        "pytest.ini": "[pytest]\npython_functions = check_*\n",
        "test_solution.py": "def test_fails():\n    assert 1 == 2\n",
    }
    report = await mesh.validate("python", files)
    stages = {s.name: s.status for s in report.stages}
    assert stages["security"] == "failed", "the real bandit ran"
    assert stages["tests"] == "failed", "a forced exit status does not hide a failing test"
    assert not report.passed
