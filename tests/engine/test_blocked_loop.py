"""A worker whose event loop is held for 20 s is busy, not dead: its heartbeats go on from a
thread, nobody takes its step over, and the step runs once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.helpers import start_run
from tests.servers import (
    ROOT,
    Cluster,
    Environment,
    Standin,
    load_modules,
    make_environment,
    wait_run,
)

DIAGRAM = ROOT / "tests" / "fixtures" / "hold_loop.bpmn"


@pytest.fixture()
def holding_env(cluster: Cluster, standin: Standin, workroot: Path) -> Iterator[Environment]:
    env = make_environment(cluster, standin, "hold", workroot)
    load_modules(env, "tests.fixtures.blocking_operator")
    env.env["HOLD_LOOP_LOG"] = str(env.workdir / "holds.log")
    env.start_server(workers=2)  # the other worker would take the step over if it could
    yield env
    env.stop()


def test_held_event_loop_is_not_a_dead_worker(holding_env: Environment) -> None:
    env = holding_env
    assert env.env["WEAVERGEN_STALLED_AFTER_SECONDS"] == "4", "held 5x longer than that"
    with env.client() as api:
        files = {"file": (DIAGRAM.name, DIAGRAM.read_bytes(), "application/xml")}
        api.post("/api/diagrams", files=files).raise_for_status()
        run = wait_run(api, start_run(api, "hold the loop", "hold_loop"), timeout=120)
    assert run["status"] == "completed", run
    holds = [s for s in run["steps"] if s["element_id"] == "hold"]
    assert [(s["state"], s["attempts"]) for s in holds] == [("completed", 1)], holds
    log = (env.workdir / "server.log").read_text(errors="replace")
    assert "stalled: its worker died" not in log
    assert (env.workdir / "holds.log").read_text().split() == [run["id"]], "the step ran once"
