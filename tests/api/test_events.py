"""Timers are scheduled wake-ups; an operator failure reaches the step's boundary error event."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.api.helpers import start_run, step
from tests.servers import ROOT, wait_run


def test_timer_then_boundary_error(api: httpx.Client) -> None:
    xml = (ROOT / "tests" / "fixtures" / "probe.bpmn").read_bytes()
    resp = api.post("/api/diagrams", files={"file": ("probe.bpmn", xml)})
    assert resp.status_code == 201, resp.text
    run_id = start_run(api, "probe the engine", "probe")
    waiting = wait_run(api, run_id, ("waiting", "completed", "failed", "incident"))
    assert waiting["status"] == "waiting", "the timer holds the run"
    run = wait_run(api, run_id, timeout=30)
    assert run["status"] == "completed", run
    assert not run["incidents"]
    [pause] = step(run, "pause")
    waited = (
        datetime.fromisoformat(pause["finished_at"]) - datetime.fromisoformat(pause["started_at"])
    ).total_seconds()
    assert waited >= 0.9
    [ask] = step(run, "ask")
    assert ask["state"] == "cancelled"
    assert "unknown model group 'no_such_group'" in ask["error"]
    assert step(run, "ask_failed")[0]["state"] == "completed"
    assert step(run, "handled")[0]["state"] == "completed"
