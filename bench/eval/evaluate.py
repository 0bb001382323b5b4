"""The evaluation itself: each problem as a real run under each strategy, judged in the sandbox."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bench.eval.figures import FINISHED, Outcome, Summary, expected_pass
from bench.eval.runs import Runs
from bench.humaneval import humaneval_test_file
from standin.humaneval_problems import Problem
from validation.report import ValidationReport

STRATEGIES = ("single", "consensus", "consensus+loop")
LOOP_ITERATIONS = 3


def request_for(problem: Problem, strategy: str, models: Sequence[str]) -> dict[str, Any]:
    """The run request of one problem under one strategy."""

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

        key = (problem.task_id, code)
        if key not in self._cache:
            files = {"solution.py": code, "test_humaneval.py": humaneval_test_file(problem)}
            report: ValidationReport = await self.mesh.validate("python", files, only={"tests"})
            self._cache[key] = report.tests_total > 0 and report.tests_passed == report.tests_total
        return self._cache[key]


RUN_TIMEOUT = 300.0
"""Seconds a run may take before it counts as an error (`--run-timeout`; a CPU model needs more)."""


async def _wait(runs: Runs, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
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


Samples = list[tuple[dict[str, float], bool]]


async def _predictions(
    runs: Runs, judge: Judge, problem: Problem, run: dict[str, Any]
) -> tuple[list[tuple[float, bool]], Samples]:
    """(predicted, passed) for every candidate a prediction was made for in this run, and
    (features, passed) for those whose prediction kept its features; every label is the same
    judgement pass@1 uses (the problem's tests on solution.py)."""
    out: list[tuple[float, bool]] = []
    samples: Samples = []
    for step in run["steps"]:
        result = step.get("result") or {}
        if step["operator"] == "validate.code" and "prediction" in result:
            code = await _solution(runs, run["id"], result.get("files") or {})
            label = code is not None and await judge.passes(problem, code)
            out.append((float(result["prediction"]["predicted"]), label))
            samples += _features(result["prediction"], label, 1)
        elif step["operator"] == "llm.consensus" and result.get("evidence"):
            evidence = result["evidence"]
            for k, group in enumerate(evidence["groups"]):
                member = next(c for c in evidence["candidates"] if c["group"] == k)
                code = await _solution(runs, run["id"], member["files"])
                label = code is not None and await judge.passes(problem, code)
                out.extend((float(group["predicted"]), label) for _ in group["members"])
                samples += _features(group, label, len(group["members"]))
    return out, samples


def _features(prediction: dict[str, Any], label: bool, times: int) -> Samples:
    features = prediction.get("features")
    if not isinstance(features, dict) or not features:
        return []  # a server that does not keep them
    row = {str(k): float(v) for k, v in features.items()}
    return [(row, label) for _ in range(times)]


async def _solution(runs: Runs, run_id: str, files: dict[str, str]) -> str | None:
    artifact = files.get("solution.py")
    return await runs.artifact(run_id, artifact) if artifact else None


async def run_problem(
    runs: Runs,
    judge: Judge,
    problem: Problem,
    strategy: str,
    models: Sequence[str],
    run_timeout: float = RUN_TIMEOUT,
) -> Outcome:
    """One problem under one strategy: start, wait (at most `run_timeout` s), judge."""
    started = time.monotonic()
    try:
        run_id = await runs.start(request_for(problem, strategy, models))
        run = await _wait(runs, run_id, run_timeout)
    except Exception as exc:  # noqa: BLE001 - one failed run must not stop the evaluation
        return Outcome(
            problem.task_id, "error", False, time.monotonic() - started, 0, error=str(exc)
        )
    final = {a["path"]: a["id"] for a in run["artifacts"] if a["final"]}
    passed = False
    if run["status"] == "completed" and "solution.py" in final:
        code = await runs.artifact(run_id, final["solution.py"])
        passed = await judge.passes(problem, code)
    predictions, samples = await _predictions(runs, judge, problem, run)
    return Outcome(
        problem.task_id,
        run["status"],
        passed,
        float(run["duration_s"] or time.monotonic() - started),
        int(run["tokens_in"]) + int(run["tokens_out"]),
        predictions,
        run.get("error"),
        *_consensus_times(run),
        samples=samples,
    )


def _consensus_times(run: dict[str, Any]) -> tuple[float | None, float | None]:
    """Seconds of the multi-instance generation (first start to last end) and of choosing."""
    calls = [
        s for s in run["steps"] if s["element_id"] == "generate_candidates" and s["finished_at"]
    ]
    choose = [s for s in run["steps"] if s["element_id"] == "choose_candidate"]
    if not calls:
        return None, None

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
    run_timeout: float = RUN_TIMEOUT,
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
        outcomes = await _strategy(
            runs, judge, problems, strategy, models, concurrency, run_timeout
        )
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
    run_timeout: float,
) -> list[Outcome]:
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(problem: Problem) -> Outcome:
        nonlocal done
        async with gate:
            outcome = await run_problem(runs, judge, problem, strategy, models, run_timeout)
        done += 1
        if done % 10 == 0 or done == len(problems):
            print(f"  {strategy}: {done}/{len(problems)} runs", file=sys.stderr, flush=True)
        return outcome

    return list(await asyncio.gather(*(one(p) for p in problems)))
