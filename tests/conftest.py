"""Session fixtures: one embedded PostgreSQL, one stand-in model, one WeaverGen server, and a
real validation mesh (the bubblewrap sandbox with the installed toolchain)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.sandbox import Limits, Sandbox
from tests.servers import Cluster, Environment, Standin, make_environment, start_standin
from validation.mesh import ValidationMesh
from validation.tool_paths import Toolchain


@pytest.fixture(scope="session")
def workroot() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="weavergen-tests-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.stop()


@pytest.fixture(scope="session")
def standin(workroot: Path) -> Iterator[Standin]:
    s = start_standin(workroot)
    yield s
    s.proc.terminate()
    s.proc.wait(10)


@pytest.fixture(scope="session")
def env(cluster: Cluster, standin: Standin, workroot: Path) -> Iterator[Environment]:
    """A server with one worker process, shared by the API tests."""
    e = make_environment(cluster, standin, "main", workroot)
    e.start_server(workers=1)
    yield e
    e.stop()


@pytest.fixture(scope="session")
def scripts_env(cluster: Cluster, standin: Standin, workroot: Path) -> Iterator[Environment]:
    """A server whose admin allows script tasks (they run in the sandbox): for diagrams drawn
    in other tools, with small script limits so that a runaway script is stopped quickly."""
    e = make_environment(cluster, standin, "scripts", workroot)
    e.env.update({"WEAVERGEN_ALLOW_SCRIPTS": "true", "WEAVERGEN_SCRIPT_CPU_SECONDS": "2"})
    e.start_server(workers=1)
    yield e
    e.stop()


@pytest.fixture()
def scripts_api(scripts_env: Environment) -> Iterator[httpx.Client]:
    with scripts_env.client() as c:
        yield c


@pytest.fixture()
def api(env: Environment) -> Iterator[httpx.Client]:
    with env.client() as c:
        yield c


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    tc = Toolchain.at(Path(os.environ.get("WEAVERGEN_TOOLCHAIN_DIR", "/opt/weavergen/toolchain")))
    missing = tc.missing()
    if missing:
        raise RuntimeError("sandbox toolchain incomplete: " + "; ".join(missing))
    return tc


@pytest.fixture(scope="session")
def mesh_factory(toolchain: Toolchain) -> Callable[[Limits], ValidationMesh]:
    def make(limits: Limits) -> ValidationMesh:
        return ValidationMesh(
            Sandbox(read_only=toolchain.read_only_paths()), toolchain, limits=limits
        )

    return make


@pytest.fixture(scope="session")
def mesh(mesh_factory: Callable[[Limits], ValidationMesh]) -> ValidationMesh:
    return mesh_factory(Limits())


@pytest.fixture(scope="session")
def influx_server() -> Iterator[Any]:
    from tests.influx_server import InfluxServer

    server = InfluxServer(Path(tempfile.mkdtemp(prefix="weavergen-influx-")))
    server.start()
    yield server
    server.stop()
    server.cleanup()


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Any]:
    from tests.neo4j_server import Neo4jServer

    server = Neo4jServer()  # its own temporary home, removed by close()
    server.start()
    yield server
    server.close()
