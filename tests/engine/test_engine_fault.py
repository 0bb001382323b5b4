"""An exception that is not SpiffWorkflow's, raised while a run advances (here injected into
`do_engine_steps`): the request that caused it is answered (not 500), the run fails with the
error named instead of waiting for good, and it stays readable."""

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

DIAGRAM = ROOT / "tests" / "fixtures" / "engine_fault.bpmn"


@pytest.fixture()
def faulty_env(cluster: Cluster, standin: Standin, workroot: Path) -> Iterator[Environment]:
    env = make_environment(cluster, standin, "fault", workroot)
    load_modules(env, "tests.fixtures.engine_fault")
    env.start_server(workers=1)
    yield env
    env.stop()


def test_foreign_exception_fails_the_run_and_answers(faulty_env: Environment) -> None:
    with faulty_env.client() as api:
        files = {"file": (DIAGRAM.name, DIAGRAM.read_bytes(), "application/xml")}
        api.post("/api/diagrams", files=files).raise_for_status()
        run_id = start_run(api, "ask and end", "engine_fault")
        run = wait_run(api, run_id, ("waiting",))
        ask = [s for s in run["steps"] if s["element_id"] == "ask"][0]
        resp = api.post(
            f"/api/runs/{run_id}/tasks/{ask['task_id']}/complete", json={"data": {"boom": True}}
        )
        assert resp.status_code == 200, resp.text
        run = wait_run(api, run_id)
    assert run["status"] == "failed", run
    assert "AttributeError: injected fault" in run["error"]
