"""`weavergen eval --humaneval`: measure consensus, quality prediction and the reasoning loop.

Each HumanEval problem becomes a real run of the `quick` pattern per strategy:

- `single`: the first model group answers once; no improve loop.
- `consensus`: every model group answers in parallel; `llm.consensus` chooses; no loop.
- `consensus+loop`: the consensus, then the improve loop (validation findings and recalled
  fixes go to `llm.improve`) until the code passes, the bound is reached or two iterations
  bring no improvement.

The problem's own tests go with the request as `checks` (validated with the code, never
shown to a model). pass@1 counts a run that completed with a `solution.py` that passes
those tests, judged again in the sandbox. The quality prediction is scored (AUC, Brier)
against the same judgement of every candidate it was made for.

With `--server URL` the runs go to a running WeaverGen (whatever models it is configured
with: vLLM in production). Without it, the command starts its own: an embedded PostgreSQL,
the engine with a worker, and the stand-in model replaying HumanEval with the accuracies of
`--standin-accuracy` — not a model; the expected figures it allows are printed beside the
measured ones. The last line reads `pass@1 single=A consensus=B consensus+loop=C`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engine.quality import auc, brier
from standin.humaneval import Problem
from validation.report import ValidationReport

STRATEGIES = ("single", "consensus", "consensus+loop")
DEFAULT_MODELS = ("coder", "coder-b", "coder-c")
DEFAULT_ACCURACY = "coder=0.7,coder-b=0.6,coder-c=0.5"
LOOP_ITERATIONS = 3
FINISHED = ("completed", "failed")


class Runs(Protocol):
    """Where runs happen: a server over HTTP, or an engine in this process."""

    async def start(self, request: dict[str, Any]) -> str: ...
    async def get(self, run_id: str) -> dict[str, Any]: ...
    async def artifact(self, run_id: str, artifact_id: str) -> str: ...


@dataclass
class Outcome:
    """One run of one problem under one strategy."""

    problem: str
    status: str
    passed: bool
    seconds: float
    tokens: int
    predictions: list[tuple[float, bool]] = field(default_factory=list)
    error: str | None = None
    generate_s: float | None = None  # the parallel multi-instance generation, start to end
    choose_s: float | None = None  # llm.consensus: grouping, prediction, validation


@dataclass
class Summary:
    """The figures of one strategy."""

    strategy: str
    outcomes: list[Outcome]
    expected: float | None = None

    @property
    def pass_at_1(self) -> float:
        return sum(o.passed for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    def latency(self) -> tuple[float, float]:
        times = sorted(o.seconds for o in self.outcomes)
        if not times:
            return (0.0, 0.0)
        p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]
        return (sum(times) / len(times), p95)

    def tokens(self) -> float:
        return sum(o.tokens for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    def prediction(self) -> tuple[float | None, float | None, int]:
        pairs = [p for o in self.outcomes for p in o.predictions]
        preds, labels = [p for p, _ in pairs], [label for _, label in pairs]
        return auc(preds, labels), brier(preds, labels), len(pairs)


def expected_pass(strategy: str, accuracies: Sequence[float], iterations: int) -> float:
    """What probability predicts when candidates pass independently with these accuracies
    and a consensus finds a passing candidate whenever there is one (it validates them).
    The loop's improvements are asked of the first group; with failing iterations that do
    not raise the score, the loop converges after two of them."""
    first = accuracies[0]
    none_pass = math.prod(1 - a for a in accuracies)
    if strategy == "single":
        return first
    if strategy == "consensus":
        return 1 - none_pass
    # a lower bound: an iteration that raises the score without passing earns another one
    return 1 - none_pass * (1 - first) ** min(iterations, 2)


def request_for(problem: Problem, strategy: str, models: Sequence[str]) -> dict[str, Any]:
    """The run request of one problem under one strategy."""
    from api.validate_bench import humaneval_test_file

    return {
        "text": "Complete this Python function in solution.py; keep its name and signature.\n\n"
        + problem.prompt,
        "language": "python",
        "pattern": "quick",
        "checks": {"test_humaneval.py": humaneval_test_file(problem)},
        "options": {
            "groups": list(models if strategy != "single" else models[:1]),
            "consensus": strategy != "single",
            "max_iterations": LOOP_ITERATIONS if strategy == "consensus+loop" else 0,
            "escalate": False,
        },
    }


class Judge:
    """Runs a problem's tests on code in the sandbox (the mesh's tests stage only)."""

    def __init__(self, mesh: Any) -> None:
        self.mesh = mesh
        self._cache: dict[tuple[str, str], bool] = {}

    async def passes(self, problem: Problem, code: str) -> bool:
        from api.validate_bench import humaneval_test_file

        key = (problem.task_id, code)
        if key not in self._cache:
            files = {"solution.py": code, "test_humaneval.py": humaneval_test_file(problem)}
            report: ValidationReport = await self.mesh.validate("python", files, only={"tests"})
            self._cache[key] = report.tests_total > 0 and report.tests_passed == report.tests_total
        return self._cache[key]


async def _wait(runs: Runs, run_id: str, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        run = await runs.get(run_id)
        if run["status"] in FINISHED or run["status"] == "incident":
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run['status']} after {timeout:.0f} s")
        await asyncio.sleep(delay)
        delay = min(1.0, delay * 1.5)


async def _predictions(
    runs: Runs, judge: Judge, problem: Problem, run: dict[str, Any]
) -> list[tuple[float, bool]]:
    """(predicted, passed) for every candidate a prediction was made for in this run; every
    label is the same judgement pass@1 uses (the problem's tests on solution.py)."""
    out: list[tuple[float, bool]] = []
    for step in run["steps"]:
        result = step.get("result") or {}
        if step["operator"] == "validate.code" and "prediction" in result:
            code = await _solution(runs, run["id"], result.get("files") or {})
            label = code is not None and await judge.passes(problem, code)
            out.append((float(result["prediction"]["predicted"]), label))
        elif step["operator"] == "llm.consensus" and result.get("evidence"):
            evidence = result["evidence"]
            for k, group in enumerate(evidence["groups"]):
                member = next(c for c in evidence["candidates"] if c["group"] == k)
                code = await _solution(runs, run["id"], member["files"])
                label = code is not None and await judge.passes(problem, code)
                out.extend((float(group["predicted"]), label) for _ in group["members"])
    return out


async def _solution(runs: Runs, run_id: str, files: dict[str, str]) -> str | None:
    artifact = files.get("solution.py")
    return await runs.artifact(run_id, artifact) if artifact else None


async def run_problem(
    runs: Runs, judge: Judge, problem: Problem, strategy: str, models: Sequence[str]
) -> Outcome:
    """One problem under one strategy: start, wait, judge."""
    started = time.monotonic()
    try:
        run_id = await runs.start(request_for(problem, strategy, models))
        run = await _wait(runs, run_id)
    except Exception as exc:  # noqa: BLE001 - one failed run must not stop the evaluation
        return Outcome(
            problem.task_id, "error", False, time.monotonic() - started, 0, error=str(exc)
        )
    final = {a["path"]: a["id"] for a in run["artifacts"] if a["final"]}
    passed = False
    if run["status"] == "completed" and "solution.py" in final:
        code = await runs.artifact(run_id, final["solution.py"])
        passed = await judge.passes(problem, code)
    return Outcome(
        problem.task_id,
        run["status"],
        passed,
        float(run["duration_s"] or time.monotonic() - started),
        int(run["tokens_in"]) + int(run["tokens_out"]),
        await _predictions(runs, judge, problem, run),
        run.get("error"),
        *_consensus_times(run),
    )


def _consensus_times(run: dict[str, Any]) -> tuple[float | None, float | None]:
    """Seconds of the multi-instance generation (first start to last end) and of choosing."""
    calls = [
        s for s in run["steps"] if s["element_id"] == "generate_candidates" and s["finished_at"]
    ]
    choose = [s for s in run["steps"] if s["element_id"] == "choose_candidate"]
    if not calls:
        return None, None
    from datetime import datetime

    first = min(datetime.fromisoformat(s["started_at"]) for s in calls)
    last = max(datetime.fromisoformat(s["finished_at"]) for s in calls)
    chosen = (choose[0]["duration_ms"] or 0) / 1000 if choose else None
    return (last - first).total_seconds(), chosen


async def evaluate(
    runs: Runs,
    judge: Judge,
    problems: Sequence[Problem],
    strategies: Sequence[str],
    models: Sequence[str],
    *,
    concurrency: int,
    accuracies: Sequence[float] | None,
) -> list[Summary]:
    """Every problem under every strategy, `concurrency` runs at a time; progress on stderr.
    One uncounted warm-up run first: the first model call of a process imports LiteLLM
    (seconds), which would otherwise land in one run's latency."""
    if problems:  # not a HumanEval prompt: the stand-in's draws for the problems stay as set
        warm = time.monotonic()
        try:
            run_id = await runs.start(
                {
                    "text": "warm-up: say hello",
                    "pattern": "quick",
                    "options": {"max_iterations": 0, "escalate": False, "groups": list(models[:1])},
                }
            )
            await _wait(runs, run_id)
        except Exception as exc:  # noqa: BLE001 - only a warm-up
            print(f"warm-up run failed: {exc}", file=sys.stderr)
        print(f"warm-up run: {time.monotonic() - warm:.1f} s (not counted)", file=sys.stderr)
    summaries = []
    for strategy in strategies:
        print(f"{strategy}: {len(problems)} problems", file=sys.stderr, flush=True)
        outcomes = await _strategy(runs, judge, problems, strategy, models, concurrency)
        expected = expected_pass(strategy, accuracies, LOOP_ITERATIONS) if accuracies else None
        summaries.append(Summary(strategy, outcomes, expected))
    return summaries


async def _strategy(
    runs: Runs,
    judge: Judge,
    problems: Sequence[Problem],
    strategy: str,
    models: Sequence[str],
    concurrency: int,
) -> list[Outcome]:
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(problem: Problem) -> Outcome:
        nonlocal done
        async with gate:
            outcome = await run_problem(runs, judge, problem, strategy, models)
        done += 1
        if done % 10 == 0 or done == len(problems):
            print(f"  {strategy}: {done}/{len(problems)} runs", file=sys.stderr, flush=True)
        return outcome

    return list(await asyncio.gather(*(one(p) for p in problems)))


def table(summaries: Sequence[Summary]) -> list[str]:
    """The result table, one line per strategy, then the pass@1 line."""

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        f"{'strategy':<16}{'pass@1':>8}{'expected':>10}{'mean s':>8}{'p95 s':>7}"
        f"{'tokens/problem':>16}{'AUC':>7}{'Brier':>7}{'predictions':>13}{'errors':>8}"
    ]
    for s in summaries:
        mean, p95 = s.latency()
        roc, score, n = s.prediction()
        errors = sum(o.status not in FINISHED for o in s.outcomes)
        lines.append(
            f"{s.strategy:<16}{s.pass_at_1:>8.3f}{fmt(s.expected, '.3f'):>10}{mean:>8.2f}"
            f"{p95:>7.2f}{s.tokens():>16.0f}{fmt(roc, '.3f'):>7}{fmt(score, '.3f'):>7}"
            f"{n:>13}{errors:>8}"
        )
    for s in summaries:
        gen = [o.generate_s for o in s.outcomes if o.generate_s is not None]
        choose = [o.choose_s for o in s.outcomes if o.choose_s is not None]
        if gen:
            lines.append(
                f"{s.strategy}: parallel generation mean {sum(gen) / len(gen):.2f} s, "
                f"median {sorted(gen)[len(gen) // 2]:.2f} s, max {max(gen):.2f} s; choosing "
                f"(grouping, prediction, validation) mean "
                f"{sum(choose) / max(1, len(choose)):.2f} s over {len(gen)} runs"
            )
    lines.append("pass@1 " + " ".join(f"{s.strategy}={s.pass_at_1:.3f}" for s in summaries))
    return lines


# --------------------------------------------------------------------------- where runs go


class HttpRuns:
    """A running WeaverGen server."""

    def __init__(self, base_url: str, token: str | None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=60)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = await self.http.request(method, path, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    async def start(self, request: dict[str, Any]) -> str:
        return str((await self._json("POST", "/api/runs", json=request))["id"])

    async def get(self, run_id: str) -> dict[str, Any]:
        return dict(await self._json("GET", f"/api/runs/{run_id}"))

    async def artifact(self, run_id: str, artifact_id: str) -> str:
        return str(
            (await self._json("GET", f"/api/runs/{run_id}/artifacts/{artifact_id}"))["content"]
        )

    async def close(self) -> None:
        await self.http.aclose()


class LocalRuns:
    """An engine in this process (self-contained evaluation against the stand-in)."""

    def __init__(self, engine: Any) -> None:
        from engine.queries import RunQueries

        self.engine = engine
        self.queries = RunQueries(engine.db)

    async def start(self, request: dict[str, Any]) -> str:
        from engine.runs import RunRequest

        return str(await self.engine.runs.start(RunRequest(**request), created_by="eval"))

    async def get(self, run_id: str) -> dict[str, Any]:
        from uuid import UUID

        return dict(await self.queries.get_run(UUID(run_id)))

    async def artifact(self, run_id: str, artifact_id: str) -> str:
        from uuid import UUID

        return str((await self.queries.artifact(UUID(run_id), UUID(artifact_id)))["content"])


async def _self_contained(
    args: argparse.Namespace, problems: Sequence[Problem], workdir: Path
) -> list[Summary]:
    from adapters.models import single_endpoint_config
    from api.local_engine import local_engine
    from api.validate_bench import default_mesh
    from engine.settings import Settings
    from standin.options import StandinOptions, parse_model_accuracy
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
            )
    finally:
        standin.stop()


async def _against_server(
    args: argparse.Namespace, problems: Sequence[Problem], workdir: Path
) -> list[Summary]:
    from api.client import find_token
    from api.validate_bench import default_mesh
    from engine.settings import Settings

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
        )
    finally:
        await runs.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="weavergen eval", description=__doc__.split("\n\n")[0])
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
        "--standin-accuracy",
        default=DEFAULT_ACCURACY,
        help="without --server: the stand-in's accuracy per model group",
    )
    p.add_argument("--standin-latency-ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry; prints the table and the pass@1 line."""
    from api.validate_bench import humaneval_problems

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
