"""`python -m bench load N` (`bench/load.sh N`): N runs submitted at once to a real
`weavergen serve` against the stand-in model, from one asyncio client process.

Counts what the API answered (accepted, refused with 429/503 and retried after
`Retry-After`, 500s), waits for every run, and samples `GET /api/runs/{id}` latency while
runs are in flight. Progress goes to stderr every few seconds; the last line is
`load N=… accepted=… refused=… errors_500=… completed=… wall=…s runs/s=… p50=…s p95=…s
max=…s api_p50=…ms api_p99=…ms in_flight_max=… mem_mb=server+workers+postgres`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psycopg

from adapters.database import libpq_url
from api.client import retry_after
from bench.machine import busy_cpu_s, own_cpu_s
from bench.serving import ROOT, Served, served

DIAGRAM = ROOT / "bench" / "diagrams" / "model_only.bpmn"
REQUEST = "Write a function add(a, b)"
CONNECTIONS = 256  # requests in flight from the client at once


@dataclass
class Tally:
    """What the API answered and when each accepted run started."""

    accepted: dict[str, float] = field(default_factory=dict)  # run id -> accepted at
    refused: int = 0
    errors_500: int = 0
    other: dict[int, int] = field(default_factory=dict)
    api_ms: list[float] = field(default_factory=list)


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _submit(
    client: aiohttp.ClientSession, body: dict[str, str], tally: Tally, sending: asyncio.Semaphore
) -> None:
    for _ in range(10_000):  # bounded: a server that never admits us fails the bench
        try:
            async with sending, client.post("/api/runs", json=body) as resp:
                status, header = resp.status, resp.headers.get("Retry-After")
                answer = await resp.json() if status == 201 else None
        except (aiohttp.ClientError, TimeoutError):
            tally.other[-1] = tally.other.get(-1, 0) + 1
            await asyncio.sleep(1)
            continue
        if answer is not None:
            tally.accepted[answer["id"]] = time.monotonic()
            return
        if status >= 500 and status != 503:
            tally.errors_500 += 1
            return
        delay = retry_after(status, header)
        if delay is None:
            tally.other[status] = tally.other.get(status, 0) + 1
            return
        tally.refused += 1
        await asyncio.sleep(delay * random.uniform(1.0, 1.5))  # spread the comeback


def _sample_api(url: str, headers: dict[str, str], database_url: str, stop: Any, out: Any) -> None:
    """GET a random run in flight every 50 ms until `stop`, then send the latencies (ms) to
    `out`. Runs in a process of its own, so that neither the submitting event loop nor its
    interpreter lock delays the samples."""
    latencies: list[float] = []
    in_flight: list[str] = []
    refreshed = 0.0
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        while not stop.wait(0.05):
            if time.monotonic() - refreshed > 1:
                in_flight, refreshed = _in_flight(database_url), time.monotonic()
            if not in_flight:
                continue
            run_id = random.choice(in_flight)
            started = time.perf_counter()
            try:
                resp = client.get(f"/api/runs/{run_id}")
            except httpx.HTTPError:
                continue
            if resp.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)
    out.send(latencies)


def _in_flight(database_url: str) -> list[str]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute("SELECT id FROM runs WHERE status IN ('running', 'waiting')")
        return [str(r[0]) for r in rows.fetchall()]


def _counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    return {status: n for status, n in rows}


def _latencies(database_url: str) -> list[float]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM finished_at - created_at) FROM runs "
            "WHERE finished_at IS NOT NULL"
        ).fetchall()
    return [float(r[0]) for r in rows]


async def _load(s: Served, n: int, pattern: str, timeout: float) -> int:
    headers = {"Authorization": f"Bearer {s.token}"}
    # aiohttp: httpx's own CPU (about half a core at 100 starts/s) capped the start rate
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(
        s.url, headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as client:
        if pattern == "model_only":
            form = aiohttp.FormData()
            form.add_field("file", DIAGRAM.read_bytes(), filename=DIAGRAM.name)
            async with client.post("/api/diagrams", data=form) as resp:
                resp.raise_for_status()
        tally = Tally()
        spawn = multiprocessing.get_context("spawn")
        stop = spawn.Event()
        results, out = spawn.Pipe(duplex=False)
        sampling = spawn.Process(
            target=_sample_api, args=(s.url, headers, s.database_url, stop, out), daemon=True
        )
        sampling.start()
        body = {"text": REQUEST, "pattern": pattern}
        cpu_before, own_before = busy_cpu_s(), own_cpu_s()
        started = time.monotonic()
        sending = asyncio.Semaphore(CONNECTIONS)
        submits = [asyncio.create_task(_submit(client, body, tally, sending)) for _ in range(n)]
        in_flight_max, memory_max, last_print = (
            0,
            {"server": 0.0, "workers": 0.0, "postgres": 0.0},
            0.0,
        )
        while True:
            await asyncio.sleep(1)
            counts = await asyncio.to_thread(_counts, s.database_url)
            done = counts.get("completed", 0) + counts.get("failed", 0) + counts.get("incident", 0)
            in_flight_max = max(in_flight_max, counts.get("running", 0) + counts.get("waiting", 0))
            memory = s.memory_mb()
            memory_max = {k: max(v, memory[k]) for k, v in memory_max.items()}
            elapsed = time.monotonic() - started
            if elapsed - last_print >= 5:
                last_print = elapsed
                print(
                    f"{elapsed:6.0f} s: accepted {len(tally.accepted)}/{n}, refused "
                    f"{tally.refused}, finished {done}, in flight "
                    f"{counts.get('running', 0) + counts.get('waiting', 0)}",
                    file=sys.stderr,
                    flush=True,
                )
            if all(t.done() for t in submits) and done >= len(tally.accepted):
                break
            if elapsed > timeout:
                print(f"gave up after {timeout:.0f} s", file=sys.stderr)
                break
        wall = time.monotonic() - started
        # the server's, workers', sandboxes' and PostgreSQL's CPU: the machine's, less ours
        cpu = (busy_cpu_s() - cpu_before) - (own_cpu_s() - own_before)
        stop.set()
        tally.api_ms = results.recv()
        sampling.join()
    counts = _counts(s.database_url)
    latencies = _latencies(s.database_url)
    p50 = statistics.median(latencies) if latencies else float("nan")
    print(f"statuses: {counts}; other answers: {tally.other}")
    print(
        f"memory (max PSS): server {memory_max['server']:.0f} MB, workers "
        f"{memory_max['workers']:.0f} MB, postgres {memory_max['postgres']:.0f} MB"
    )
    completed = counts.get("completed", 0)
    cpu_per_run = cpu / max(completed, 1)
    limit = (os.cpu_count() or 1) / cpu_per_run
    print(
        f"CPU: {cpu_per_run:.2f} CPU-s per run (machine busy time less the load client's), "
        f"so at most {limit:.2f} runs/s on {os.cpu_count()} cores; measured "
        f"{completed / wall:.2f} runs/s = {completed / wall / limit:.0%} of that; "
        f"slowest run {max(latencies, default=0) / p50:.2f}x the median"
    )
    print(
        f"load N={n} accepted={len(tally.accepted)} refused={tally.refused} "
        f"errors_500={tally.errors_500} completed={completed} wall={wall:.1f}s "
        f"runs/s={completed / wall:.2f} p50={p50:.1f}s p95={_percentile(latencies, 95):.1f}s "
        f"max={max(latencies, default=float('nan')):.1f}s "
        f"api_p50={_percentile(tally.api_ms, 50):.0f}ms "
        f"api_p99={_percentile(tally.api_ms, 99):.0f}ms "
        f"in_flight_max={in_flight_max} "
        f"mem_mb={memory_max['server']:.0f}+{memory_max['workers']:.0f}+{memory_max['postgres']:.0f}"
    )
    return 0 if tally.errors_500 == 0 and completed == n else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__)
    parser.add_argument("n", type=int, help="runs to submit at once")
    parser.add_argument("--latency-ms", type=float, default=300, help="stand-in latency")
    parser.add_argument(
        "--pattern", default="quick", help="quick (validation on) or model_only (one model call)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="jobs at once per worker")
    parser.add_argument("--timeout", type=float, default=3600, help="give up after (s)")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="weavergen-load-") as tmp,
        served(
            Path(tmp),
            latency_ms=args.latency_ms,
            workers=args.workers,
            concurrency=args.concurrency,
            max_in_flight=max(64, args.workers * args.concurrency),
        ) as s,
    ):
        print(
            f"server up in {s.health_s:.1f} s; {args.n} {args.pattern} runs, stand-in "
            f"{args.latency_ms:.0f} ms, {args.workers} workers x {args.concurrency}",
            file=sys.stderr,
        )
        return asyncio.run(_load(s, args.n, args.pattern, args.timeout))
