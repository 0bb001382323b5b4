"""`python -m bench learn` (`weavergen learn-bench`): watch decide.pattern learn which pattern
works, against the stand-in.

A throwaway embedded PostgreSQL, a stand-in model whose `quick` answers pass validation far
less often than `standard`'s (bench/learn_script.yaml), the real engine with a worker and
the learning recorder. Runs go one after another so each decision sees every earlier
outcome; the last line reads `better pattern chosen in K of the last 20 runs`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

import yaml
from sqlalchemy import select

from adapters.models import single_endpoint_config
from bench.local_engine import local_engine
from engine.runs import RunRequest
from engine.settings import ROOT, Settings
from engine.tables import runs

REQUEST = "Write a function add(a, b) that returns their sum"
BETTER, WORSE = "standard", "quick"


async def _wait(engine, run_id: UUID, timeout: float = 120.0) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with engine.db.connect() as conn:
            row = (
                await conn.execute(select(runs.c.status, runs.c.pattern).where(runs.c.id == run_id))
            ).one()
        if row.status in ("completed", "failed", "incident"):
            return row.status, row.pattern
        await asyncio.sleep(0.1)
    raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f} s")


async def bench(n_runs: int, seed: int, workdir: Path) -> int:
    """Run the simulation; returns how often the better pattern was chosen in the last 20."""
    from standin.options import StandinOptions
    from standin.runner import StandinThread
    from standin.script import Script

    script = Script.model_validate(
        yaml.safe_load((ROOT / "bench" / "learn_script.yaml").read_text())
    )
    standin = StandinThread(StandinOptions(script=script, seed=seed)).start()
    models = workdir / "models.yaml"
    models.write_text(
        single_endpoint_config(
            standin.api_base, ["coder", "coder-b", "coder-c", "reviewer", "classifier"]
        )
    )
    settings = Settings(models_file=models, data_dir=workdir, learning_exploration=True)
    chosen: list[str | None] = []
    try:
        async with local_engine(settings, service="weavergen-learn-bench", concurrency=4) as (
            engine,
            recorder,
        ):
            started = time.monotonic()
            for i in range(n_runs):
                run_id = await engine.runs.start(RunRequest(text=REQUEST), created_by="learn-bench")
                status, pattern = await _wait(engine, run_id)
                await recorder.drain()
                await engine.learning.flush()
                chosen.append(pattern)
                mark = "better" if pattern == BETTER else "worse "
                print(f"run {i + 1:3d}: {mark} pattern {pattern:<9} -> {status}", file=sys.stderr)
                if (i + 1) % 10 == 0:
                    block = chosen[-10:]
                    print(
                        f"runs {i - 8:3d}-{i + 1:3d}: better pattern ({BETTER}) chosen "
                        f"{block.count(BETTER)}/10",
                        flush=True,
                    )
            elapsed = time.monotonic() - started
            stats = await _final_stats(engine.database.url)
    finally:
        standin.stop()
    last = chosen[-20:]
    print(f"outcomes learned (pattern: successes/failures): {stats}")
    print(f"{n_runs} runs in {elapsed:.1f} s")
    print(f"better pattern chosen in {last.count(BETTER)} of the last {len(last)} runs")
    return last.count(BETTER)


async def _final_stats(url: str) -> str:
    import psycopg

    from adapters.database import libpq_url

    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        cur = await conn.execute(
            "SELECT pattern, sum(success::int), sum((NOT success)::int) FROM learning_runs "
            "GROUP BY pattern ORDER BY pattern"
        )
        return ", ".join(f"{p}: {s}/{f}" for p, s, f in await cur.fetchall())


def main(argv: list[str] | None = None) -> int:
    """Command line entry; exit 0 when the better pattern won at least 90 % of the last 20."""
    parser = argparse.ArgumentParser(prog="weavergen learn-bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.runs < 20:
        parser.error("--runs must be at least 20 (the verdict looks at the last 20)")
    workdir = Path(tempfile.mkdtemp(prefix="weavergen-learn-bench-"))
    workdir.chmod(0o755)  # the embedded PostgreSQL runs as its own user
    try:
        won = asyncio.run(bench(args.runs, args.seed, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if won >= 18 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
