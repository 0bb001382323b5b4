"""Fixtures for the stand-in model tests: real servers on free loopback ports."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_MODE", "PRODUCTION")

from collections.abc import Callable, Iterator  # noqa: E402

import pytest  # noqa: E402

from standin.options import StandinOptions  # noqa: E402
from standin.runner import StandinThread  # noqa: E402

StartStandin = Callable[..., StandinThread]


@pytest.fixture
def start_standin() -> Iterator[StartStandin]:
    """Start stand-in servers with the given options; stop them after the test."""
    running: list[StandinThread] = []

    def start(**options: object) -> StandinThread:
        server = StandinThread(StandinOptions.model_validate(options)).start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()
