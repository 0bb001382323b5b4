"""A failing model becomes an incident that names group and deployment; retry completes it."""

from __future__ import annotations

import httpx

from tests.api.helpers import start_run
from tests.servers import Standin, wait_run


def test_failing_model_incident_then_retry_completes(api: httpx.Client, standin: Standin) -> None:
    standin.configure(fail_rate=1.0)
    try:
        run_id = start_run(api, "Write a function add(a, b) that returns their sum", "quick")
        run = wait_run(api, run_id, ("incident",))
    finally:
        standin.configure(fail_rate=0.0)
    [incident] = run["incidents"]
    assert incident["status"] == "open" and incident["element_id"] == "implement"
    assert "model group 'coder'" in incident["message"]
    assert "coder-standin-1" in incident["message"]
    assert incident["attempts"] == 3
    listed = api.get("/api/incidents").json()
    assert incident["id"] in [i["id"] for i in listed]
    implement = next(s for s in run["steps"] if s["element_id"] == "implement")
    assert implement["state"] == "started" and implement["attempts"] == 3

    resp = api.post(f"/api/incidents/{incident['id']}/retry")
    assert resp.status_code == 200, resp.text
    run = wait_run(api, run_id)
    assert run["status"] == "completed", run
    assert run["incidents"][0]["status"] == "resolved"
    assert api.post(f"/api/incidents/{incident['id']}/retry").status_code == 409


def test_retry_of_unknown_incident_is_404(api: httpx.Client) -> None:
    resp = api.post("/api/incidents/00000000-0000-0000-0000-000000000000/retry")
    assert resp.status_code == 404
    assert "does not exist" in resp.json()["detail"]
