"""`python -m bench eval` (`weavergen eval`): the evaluation's command line, against a running
server or a self-contained engine with the stand-in."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import bench.eval
from adapters.models import single_endpoint_config
from api.client import find_token
from bench.eval.evaluate import RUN_TIMEOUT, STRATEGIES, Judge, evaluate
from bench.eval.figures import Summary, table
from bench.eval.runs import HttpRuns, LocalRuns
from bench.humaneval import humaneval_problems
from bench.mesh import default_mesh
from engine.settings import Settings
from standin.humaneval_problems import Problem
from standin.options import StandinOptions, parse_model_accuracy

DEFAULT_MODELS = ("coder", "coder-b", "coder-c")
DEFAULT_ACCURACY = "coder=0.7,coder-b=0.6,coder-c=0.5"


async def _self_contained(
    args: argparse.Namespace, problems: Sequence[Problem], workdir: Path
) -> list[Summary]:
    # the engine and the stand-in server only when they run here (not for --server, --help)
    from bench.local_engine import local_engine
    from standin.runner import StandinThread

    accuracy = parse_model_accuracy(args.standin_accuracy)
    missing = [m for m in args.models if m not in accuracy]
    if missing:
        raise SystemExit(f"--standin-accuracy has no accuracy for {', '.join(missing)}")
    standin = StandinThread(
        StandinOptions(
            humaneval=True,
            model_accuracy=accuracy,
            seed=args.seed,
            latency_ms=args.standin_latency_ms,
            models=sorted({*args.models, "reviewer", "classifier"}),
        )
    ).start()
    try:
        models = workdir / "models.yaml"
        groups = sorted({*args.models, "coder", "reviewer", "classifier"})
        models.write_text(
            single_endpoint_config(standin.api_base, groups, timeout_seconds=60, max_in_flight=64)
        )
        settings = Settings(
            models_file=models,
            data_dir=workdir,
            consensus_groups=",".join(args.models),
            learning_exploration=False,
        )
        async with local_engine(
            settings, service="weavergen-eval", concurrency=16, stalled_after=60
        ) as (engine, _):
            return await evaluate(
                LocalRuns(engine),
                Judge(default_mesh()),
                problems,
                args.strategies,
                args.models,
                concurrency=args.concurrency,
                accuracies=[accuracy[m] for m in args.models],
                run_timeout=args.run_timeout,
            )
    finally:
        standin.stop()


async def _against_server(
    args: argparse.Namespace, problems: Sequence[Problem], workdir: Path
) -> list[Summary]:
    runs = HttpRuns(args.server, find_token(Settings(), args.token))
    try:
        return await evaluate(
            runs,
            Judge(default_mesh()),
            problems,
            args.strategies,
            args.models,
            concurrency=args.concurrency,
            accuracies=None,
            run_timeout=args.run_timeout,
        )
    finally:
        await runs.close()


def parser() -> argparse.ArgumentParser:
    summary = (bench.eval.__doc__ or "").split("\n\n")[0]
    p = argparse.ArgumentParser(prog="weavergen eval", description=summary)
    p.add_argument("--humaneval", action="store_true", required=True, help="the HumanEval set")
    p.add_argument("--limit", type=int, default=None, help="the first N problems (default all)")
    p.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="model groups, comma-separated; `single` uses the first",
    )
    p.add_argument(
        "--strategy",
        action="append",
        choices=STRATEGIES,
        help="repeat for several (default: all three)",
    )
    p.add_argument("--server", default=None, help="a running WeaverGen (default: start one here)")
    p.add_argument("--token", default=None, help="API token for --server (operator)")
    p.add_argument("--concurrency", type=int, default=4, help="runs at a time")
    p.add_argument(
        "--run-timeout",
        type=float,
        default=RUN_TIMEOUT,
        help="seconds a run may take before it counts as an error (a CPU model needs more)",
    )
    p.add_argument(
        "--standin-accuracy",
        default=DEFAULT_ACCURACY,
        help="without --server: the stand-in's accuracy per model group",
    )
    p.add_argument("--standin-latency-ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry; prints the table and the pass@1 line."""
    args = parser().parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.strategies = args.strategy or list(STRATEGIES)
    if not args.models:
        parser().error("--models needs at least one model group")
    if args.limit is not None and args.limit < 1:
        parser().error("--limit must be at least 1")
    problems = humaneval_problems(args.limit)
    started = time.monotonic()
    runner = _against_server if args.server else _self_contained
    workdir = Path(tempfile.mkdtemp(prefix="weavergen-eval-"))
    workdir.chmod(0o755)  # the embedded PostgreSQL runs as its own user
    try:
        summaries = asyncio.run(runner(args, problems, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    where = args.server or f"stand-in ({args.standin_accuracy}; a replay, not a model)"
    print(f"{len(problems)} HumanEval problems, models {', '.join(args.models)}, against {where}")
    print(f"wall time {time.monotonic() - started:.0f} s")
    for line in table(summaries):
        print(line)
    return 0
