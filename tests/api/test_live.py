"""What the live pages read: the run event stream, the runs list stream, step details,
artifact downloads and the learning summary."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from tests.api.helpers import start_run, step
from tests.servers import Environment, wait_run


def read_events(resp: httpx.Response, stop: str, limit_s: float = 60) -> list[tuple[str, dict]]:
    """Parse server-sent events until an event named `stop` (bounded in time)."""
    out: list[tuple[str, dict]] = []
    name, deadline = "", time.monotonic() + limit_s
    for line in resp.iter_lines():
        assert time.monotonic() < deadline, f"no {stop!r} event in {limit_s}s: {out[-3:]}"
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
            if name == stop:
                break
    return out


def test_run_stream_reports_steps_then_ends(env: Environment, api: httpx.Client) -> None:
    run_id = start_run(api, "Write a function add(a, b) that returns their sum", "quick")
    with api.stream("GET", f"/api/runs/{run_id}/stream", timeout=90) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = read_events(resp, "end")
    steps = [e for name, e in events if name == "step"]
    assert [e["id"] for e in steps] == sorted(e["id"] for e in steps)
    assert any(e["element_id"] == "validate" and e["event"] == "completed" for e in steps)
    statuses = [e["status"] for name, e in events if name == "run"]
    assert statuses[-1] == "completed" and events[-1] == ("end", {"status": "completed"})
    # resuming after the last event id sends nothing old again
    last = steps[-1]["id"]
    with api.stream(
        "GET", f"/api/runs/{run_id}/stream", headers={"Last-Event-ID": str(last)}, timeout=30
    ) as resp:
        again = read_events(resp, "end")
    assert [n for n, _ in again] == ["run", "end"]


def test_runs_stream_sends_the_filtered_list(env: Environment, api: httpx.Client) -> None:
    marker = f"stream-filter-{time.time_ns()}"
    run_id = start_run(api, f"Write a function add(a, b) {marker}", "quick")
    with api.stream("GET", "/api/runs/stream", params={"q": marker}, timeout=30) as resp:
        name, runs = read_events(resp, "runs")[0]
    assert name == "runs" and [r["id"] for r in runs] == [run_id]
    assert runs[0]["pattern"] == "quick"
    wait_run(api, run_id)
    listed = api.get("/api/runs", params={"q": "%_no_such_request_%"}).json()
    assert listed == []  # LIKE wildcards in the search are taken literally


def test_step_details_and_downloads(api: httpx.Client) -> None:
    run = wait_run(api, start_run(api, "Write a function add(a, b) BROKEN-FIRST", "quick"))
    assert run["status"] == "completed", run
    assert {p["diagram_id"] for p in run["pinned"]} == {"quick"}
    implement = api.get(f"/api/runs/{run['id']}/steps/{step(run, 'implement')[0]['task_id']}")
    detail = implement.json()
    assert "Request:" in detail["prompt"] and "```" in detail["answer"]
    assert {f["path"] for f in detail["files"]} == {"solution.py", "test_solution.py"}
    validate = api.get(f"/api/runs/{run['id']}/steps/{step(run, 'validate')[0]['task_id']}")
    report = json.loads(validate.json()["report"])
    assert report["passed"] is False and report["stages"]
    decide = api.get(f"/api/runs/{run['id']}/steps/{step(run, 'decide_next')[0]['task_id']}")
    assert decide.json()["decision"]["choice"] == "improve"
    final = next(a for a in run["artifacts"] if a["final"] and a["path"] == "solution.py")
    download = api.get(f"/api/runs/{run['id']}/artifacts/{final['id']}/download")
    assert "a + b" in download.text
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''solution.py"


def test_learning_summary_reads_the_store(api: httpx.Client) -> None:
    run = wait_run(api, start_run(api, "Write a function add(a, b) that returns their sum"))
    assert run["status"] == "completed"
    deadline = time.monotonic() + 30
    while True:  # outcomes are recorded by the span processor just after the run ends
        summary = api.get("/api/learning/summary", params={"hours": 1}).json()
        if any(p["pattern"] == "quick" for p in summary["pattern_series"]):
            break
        assert time.monotonic() < deadline, summary
        time.sleep(0.5)
    assert summary["unavailable"] is None
    assert any(d["operator"] == "decide.pattern" for d in summary["decisions"])
    assert any(lat["model_group"] and lat["calls"] > 0 for lat in summary["latency"])


def _transactions(env: Environment) -> int:
    url = env.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _idle_transactions(env: Environment, seconds: float) -> int:
    time.sleep(0.5)  # pg_stat_database is updated about every half second
    before = _transactions(env)
    time.sleep(seconds)
    time.sleep(0.5)
    return _transactions(env) - before


async def _open_streams(
    env: Environment, run_id: str, n: int, seconds: float, opened: threading.Event | None = None
) -> list[int]:
    """Hold `n` streams of the run open for `seconds`; the number of events each got.
    `opened` is set once every stream has had its first event."""
    first_events = 0
    headers = {"Authorization": f"Bearer {env.token}"}
    limits = httpx.Limits(max_connections=n + 5)
    async with httpx.AsyncClient(
        base_url=env.url, headers=headers, timeout=30, limits=limits
    ) as client:

        async def one() -> int:
            nonlocal first_events
            seen = 0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    async with client.stream("GET", f"/api/runs/{run_id}/stream") as resp:
                        async for line in resp.aiter_lines():
                            seen += line.startswith("event: ")
                            if seen == 1 and line.startswith("event: "):
                                first_events += 1
                                if first_events == n and opened is not None:
                                    opened.set()
            return seen

        return await asyncio.gather(*(one() for _ in range(n)))


def test_open_streams_wait_for_notifications_not_a_timer(
    env: Environment, api: httpx.Client
) -> None:
    run_id = start_run(api, "Write a function add(a, b) NEARLY-PASSES", "quick")
    run = wait_run(api, run_id, ("waiting",))  # waits for a person: nothing changes now
    quiet = _idle_transactions(env, 3)
    streams = 40
    all_open = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        opened = pool.submit(asyncio.run, _open_streams(env, run_id, streams, 10, all_open))
        # measured once every stream is open and has sent the run once (on a busy machine
        # opening 40 streams can take longer than any fixed pause)
        assert all_open.wait(20), "the streams did not all open within 20 s"
        busy = _idle_transactions(env, 3)
        counts = opened.result()
    assert all(c >= 1 for c in counts), counts
    # polling streams would add about streams / 0.4 s queries a second; waiting ones add none
    assert busy - quiet < streams, (quiet, busy)
    [review] = step(run, "human_review")
    api.post(
        f"/api/runs/{run_id}/tasks/{review['task_id']}/complete",
        json={"data": {"approved": True, "comment": "ok"}},
    ).raise_for_status()
    assert wait_run(api, run_id)["status"] == "completed"
