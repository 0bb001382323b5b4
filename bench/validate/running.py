"""Running the validation bench: items through the mesh, several at once, with progress."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TextIO

from bench.humaneval import humaneval_problems
from bench.machine import busy_cpu_s
from bench.validate.items import BenchItem, bench_items
from bench.validate.results import BenchResult, ItemResult
from validation.report import ValidationReport


class Validator(Protocol):
    """What the bench needs of the mesh (`validation.mesh.ValidationMesh`)."""

    async def validate(self, language: str, files: dict[str, str]) -> ValidationReport: ...


Progress = Callable[[int, int, ItemResult], None]


def default_concurrency() -> int:
    """One validation per usable CPU core, plus one: each spends part of its time starting
    processes, so one more keeps the cores busy (measured 20-35 % faster on 2 cores)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores) + 1


async def run_items(
    mesh: Validator,
    items: Sequence[BenchItem],
    *,
    problems: int,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Validate `items` with `concurrency` validations at once; results keep the item order."""
    workers = max(1, concurrency or default_concurrency())
    results: list[ItemResult | None] = [None] * len(items)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(items)):
        queue.put_nowait(index)
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            item = items[index]
            started = time.perf_counter()
            try:
                report = await mesh.validate("python", item.files())
                result = ItemResult(item, report)
            except Exception as exc:  # recorded per item and reported
                result = ItemResult(item, None, error=f"{type(exc).__name__}: {exc}")
            result.wall_ms = (time.perf_counter() - started) * 1000
            results[index] = result
            done += 1
            if progress is not None:
                progress(done, len(items), result)

    start, cpu = time.perf_counter(), busy_cpu_s()
    await asyncio.gather(*(worker() for _ in range(min(workers, len(items)) or 1)))
    wall = time.perf_counter() - start
    return BenchResult(
        problems=problems,
        concurrency=workers,
        wall_s=wall,
        cpu_s=busy_cpu_s() - cpu,
        items=[r for r in results if r is not None],
    )


async def run_bench(
    mesh: Validator,
    *,
    limit: int | None = None,
    concurrency: int | None = None,
    variants_per_problem: int | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Validate the references and broken variants of the first `limit` HumanEval problems."""
    problems = humaneval_problems(limit)
    items = bench_items(problems, variants_per_problem)
    return await run_items(
        mesh, items, problems=len(problems), concurrency=concurrency, progress=progress
    )


class StderrProgress:
    """A `\\r` counter on a terminal, else a line every `step` items (and at the end)."""

    def __init__(self, stream: TextIO | None = None, step: int = 10) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.step = step
        self.start = time.perf_counter()
        self.wrong = 0

    def __call__(self, done: int, total: int, result: ItemResult) -> None:
        self.wrong += not result.correct
        if not self.tty and done % self.step and done != total:
            return
        text = (
            f"validate-bench: {done}/{total} validated, {self.wrong} misjudged, "
            f"{time.perf_counter() - self.start:.1f} s"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done == total else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
