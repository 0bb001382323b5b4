"""Session fixtures: one embedded PostgreSQL, one stand-in model, one WeaverGen server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Cluster, Environment, Standin, make_environment, start_standin


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
    """A server with one in-process worker, shared by the API tests."""
    e = make_environment(cluster, standin, "main", workroot)
    e.start_server(workers=1)
    yield e
    e.stop()


@pytest.fixture()
def api(env: Environment) -> Iterator[httpx.Client]:
    with env.client() as c:
        yield c
