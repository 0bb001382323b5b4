"""`python -m bench start` (`bench/start.sh`): how long WeaverGen takes to be useful.

Starts `weavergen serve` twice against its own PostgreSQL and the stand-in (the second
start is the warm one: files in the page cache, database created), times `/health`, then
a quick run right after the start beside the median of three more, and `weavergen runs`
(a whole CLI command against the running server). The last line is
`start warm_health=…s cold_health=…s first_run=…s steady_run=…s ratio=… cli=…s`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.serving import BIN, Served, served

REQUEST = {"text": "Write a function add(a, b)", "pattern": "quick"}


def _run_once(s: Served) -> float:
    """Seconds from POST to a completed quick run."""
    headers = {"Authorization": f"Bearer {s.token}"}
    with httpx.Client(base_url=s.url, headers=headers, timeout=60) as api:
        started = time.monotonic()
        run_id = api.post("/api/runs", json=REQUEST).raise_for_status().json()["id"]
        for _ in range(6000):  # bounded: 10 minutes at the most
            run = api.get(f"/api/runs/{run_id}").raise_for_status().json()
            if run["status"] in ("completed", "failed", "incident"):
                if run["status"] != "completed":
                    raise RuntimeError(f"run {run_id} ended {run['status']}: {run['error']}")
                return time.monotonic() - started
            time.sleep(0.05)
    raise RuntimeError(f"run {run_id} did not finish")


def _cli(s: Served) -> float:
    started = time.monotonic()
    subprocess.run(
        [str(BIN / "weavergen"), "runs", "--server", s.url, "--token", s.token, "--json"],
        check=True,
        capture_output=True,
        env=s.env,
    )
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="python -m bench start", description=__doc__).parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="weavergen-start-") as tmp,
        served(
            Path(tmp), latency_ms=0, workers=1, concurrency=8, max_in_flight=32, start=False
        ) as s,
    ):
        cold = s.start_server()
        s.stop_server()
        warm = s.start_server()
        first = _run_once(s)
        steady = statistics.median(_run_once(s) for _ in range(3))
        cli = statistics.median(_cli(s) for _ in range(3))
    print(f"warm start to /health {warm:.2f} s (first start {cold:.2f} s)")
    print(f"first quick run after start {first:.2f} s, then {steady:.2f} s (median of 3)")
    print(f"`weavergen runs` against the server: {cli:.2f} s")
    print(
        f"start warm_health={warm:.2f}s cold_health={cold:.2f}s first_run={first:.2f}s "
        f"steady_run={steady:.2f}s ratio={first / steady:.2f} cli={cli:.2f}s"
    )
    return 0
