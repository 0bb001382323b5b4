"""/metrics: Prometheus' text format, parsed by the official client, with the runs, steps,
queue and model calls of a run that just completed; a token is needed."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import start_run
from tests.servers import Environment, wait_run


def test_metrics_after_a_run(api: httpx.Client, env: Environment) -> None:
    run = wait_run(api, start_run(api, "Write a function add(a, b)", "quick"))
    assert run["status"] == "completed"
    resp = api.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }
    assert samples[("weavergen_runs", (("status", "completed"),))] >= 1
    implement = (("element", "implement"), ("process", "quick"))
    assert samples[("weavergen_step_duration_seconds_count", implement)] >= 1
    assert samples[("weavergen_step_duration_seconds_sum", implement)] > 0
    assert ("weavergen_queue_oldest_waiting_seconds", ()) in samples
    calls = [k for k in samples if k[0] == "weavergen_model_call_seconds_count"]
    assert calls, "model calls per group and deployment"
    assert httpx.get(f"{env.url}/metrics").status_code == 401
