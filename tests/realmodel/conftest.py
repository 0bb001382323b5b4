"""The real-model tier: a WeaverGen server that starts the embedded CPU model itself
(WEAVERGEN_LOCAL_MODEL=on, as `make run` does when no model server answers), on its own
database. The model is SmolLM2-135M-Instruct from `make install`; when it is not installed the
server does not start and these tests fail with its message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.serving import free_port
from tests.servers import Cluster, Environment, Standin, make_environment


@pytest.fixture(scope="session")
def real_env(cluster: Cluster, standin: Standin, workroot: Path) -> Iterator[Environment]:
    env = make_environment(cluster, standin, "realmodel", workroot)
    del env.env["WEAVERGEN_MODELS"]  # no override: the server chooses the embedded model
    env.env.update(
        WEAVERGEN_LOCAL_MODEL="on",
        WEAVERGEN_LOCAL_MODEL_PORT=str(free_port()),
        WEAVERGEN_LOCAL_MODEL_THREADS="2",
        WEAVERGEN_MAX_ITERATIONS="1",  # bounded: one improve round at most
    )
    try:
        env.start_server(workers=1)
    except Exception:
        log = env.workdir / "server.log"
        pytest.fail(f"the server with the embedded model did not start:\n{log.read_text()[-3000:]}")
    yield env
    env.stop()


@pytest.fixture(scope="session")
def embedded(real_env: Environment) -> dict[str, str]:
    """What the server wrote while its embedded model runs: url, models_file, pid."""
    info: dict[str, str] = json.loads((real_env.workdir / "data" / "local-model.json").read_text())
    return info
