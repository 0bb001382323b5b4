"""`python -m bench engine` (`bench/engine.sh`): the durable engine's cost per step beside raw
SpiffWorkflow running the same diagram with the same step results, in one process.

A quick run whose code never passes (`NEVER-PASSES`, `max_iterations` 15, no escalation)
runs against the stand-in at zero latency with one worker, five times (`--repeat`); each
step's figures are its median over the runs. For each step the bench times the
worker's whole job and the operator inside it; the difference is the durable overhead
(restoring the run, recording the step, the state, the events and the next job, all in
PostgreSQL). SQL statements, round trips (a batch of writes sent in one pipeline is one)
and transactions are counted per step. Then the same diagram
runs in memory in SpiffWorkflow with the recorded step results. The last line is
`engine per_step=… ms raw=… ms ratio=… first_iteration=… ms last_iteration=… ms
statements/step=… round_trips/step=… transactions/step=… state_kb=first→last`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import event, select

from adapters.database import create_engine
from adapters.models import single_endpoint_config
from adapters.write_batch import WriteBatch
from bench.local_engine import local_engine
from bench.serving import GROUPS, launch_standin
from engine.container import Engine
from engine.ops import OPERATORS
from engine.runs import RunRequest
from engine.runs.spiff import waiting_task
from engine.runs.tasks import waiting_jobs
from engine.settings import Settings
from engine.tables import runs

REQUEST = "Write a function add(a, b) NEVER-PASSES"
ITERATIONS = 15


@dataclasses.dataclass
class Step:
    element_id: str
    wall_ms: float = 0.0
    operator_ms: float = 0.0
    statements: int = 0
    round_trips: int = 0
    transactions: int = 0
    state_kb: float = 0.0

    @property
    def overhead_ms(self) -> float:
        return self.wall_ms - self.operator_ms


class Probe:
    """Times jobs and operators, counts SQL per job, and keeps each step's result."""

    def __init__(self, engine: Engine) -> None:
        self.steps: list[Step] = []
        self.results: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._current: Step | None = None
        # the bench's own reads go through a pool of their own, not counted with the engine's
        self.watcher = create_engine(engine.database.url, pool_size=1)
        sync = engine.db.sync_engine
        event.listen(sync, "before_cursor_execute", self._statement)
        event.listen(sync, "begin", self._begin)
        send = WriteBatch.send
        probe = self

        async def counted_send(batch: WriteBatch, conn: Any) -> None:
            if probe._current is not None and (batch._queued or batch._checked):
                probe._current.statements += len(batch._queued) + (batch._checked is not None)
                probe._current.round_trips += 1
            await send(batch, conn)

        WriteBatch.send = counted_send  # type: ignore[method-assign,assignment]
        run = engine.runner.run

        async def timed_run(run_id: UUID, task_id: UUID, *, attempt: int) -> str:
            step = self._current = Step("?")
            started = time.perf_counter()
            try:
                return await run(run_id, task_id, attempt=attempt)
            finally:
                step.wall_ms = (time.perf_counter() - started) * 1000
                self._current = None
                self.steps.append(step)
                step.state_kb = await self._state_kb(run_id)  # outside the timed window

        engine.runner.run = timed_run  # type: ignore[method-assign]
        # the registry is module-global: wrap each operator to time it and keep its result
        for name, op in list(OPERATORS._operators.items()):
            OPERATORS._operators[name] = dataclasses.replace(op, fn=self._timed(op.fn))

    async def _state_kb(self, run_id: UUID) -> float:
        async with self.watcher.connect() as conn:
            state = (
                await conn.execute(select(runs.c.state).where(runs.c.id == run_id))
            ).scalar_one()
        return len(json.dumps(state)) / 1024

    def _timed(self, fn: Any) -> Any:
        async def timed(inputs: Any, ctx: Any) -> dict[str, Any]:
            started = time.perf_counter()
            result = await fn(inputs, ctx)
            # keep looping up to the bound: converged scores would stop the loop early
            if (
                ctx.element_id == "decide_next"
                and result["choice"] == "reject"
                and result["iteration"] <= ITERATIONS
            ):
                result = {**result, "choice": "improve"}
            if self._current is not None:
                self._current.element_id = ctx.element_id
                self._current.operator_ms += (time.perf_counter() - started) * 1000
            self.results[ctx.element_id].append(result)
            return dict(result)

        return timed

    def _statement(self, *args: Any) -> None:
        if self._current is not None:
            self._current.statements += 1
            self._current.round_trips += 1

    def _begin(self, *args: Any) -> None:
        if self._current is not None:
            self._current.transactions += 1


REQUEST_BODY = RunRequest(
    text=REQUEST, pattern="quick", options={"max_iterations": ITERATIONS, "escalate": False}
)


async def _durable(engine: Engine, probe: Probe) -> tuple[UUID, float]:
    started = time.perf_counter()
    run_id = await engine.runs.start(REQUEST_BODY, created_by="engine-bench")
    while True:
        async with probe.watcher.connect() as conn:
            status = (
                await conn.execute(select(runs.c.status).where(runs.c.id == run_id))
            ).scalar_one()
        if status in ("completed", "failed", "incident"):
            break
        await asyncio.sleep(0.1)
    return run_id, (time.perf_counter() - started) * 1000


async def _raw(engine: Engine, run_id: UUID, results: dict[str, list[dict[str, Any]]]) -> float:
    """The same diagram in memory: SpiffWorkflow only, fed the recorded results."""
    async with engine.db.connect() as conn:
        row = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().one()
        specs = await engine.catalog.specs(conn, row["spec_versions"])
    codec = engine.runs.kernel.codec
    options = engine.runs.defaults.resolve(REQUEST_BODY.options)
    data = {"request": REQUEST_BODY.model_dump(), "options": options, "groups": options["groups"]}
    queue = {k: list(v) for k, v in results.items()}
    started = time.perf_counter()
    wf = codec.new_workflow("quick", specs, data)
    steps = 0
    wf.do_engine_steps()
    while not wf.is_completed():
        waiting = sorted(waiting_jobs(wf))
        if not waiting:
            raise RuntimeError("raw workflow stopped without a waiting service task")
        for task_id in waiting:
            task = waiting_task(wf, task_id)
            task.data[task.task_spec.result_variable] = queue[task.task_spec.bpmn_id].pop(0)
            task.complete()
            steps += 1
        wf.do_engine_steps()
    return (time.perf_counter() - started) * 1000 / max(steps, 1)


async def bench(workdir: Path, repeat: int) -> int:
    # the model server in a process of its own, as in production: in a thread of this process
    # it would take the interpreter lock from the steps being measured
    port, standin, _ = launch_standin(workdir)
    models = workdir / "models.yaml"
    models.write_text(single_endpoint_config(f"http://127.0.0.1:{port}/v1", GROUPS))
    settings = Settings(
        models_file=models, data_dir=workdir, learning_exploration=False, max_iterations=20
    )
    try:
        async with local_engine(settings, service="weavergen-engine-bench", concurrency=1) as (
            engine,
            _,
        ):
            probe = Probe(engine)
            await _durable(engine, probe)  # warm-up: imports, caches, first connections
            runs_steps: list[list[Step]] = []
            for _ in range(repeat):
                probe.steps.clear()
                probe.results.clear()
                run_id, total_ms = await _durable(engine, probe)
                runs_steps.append(list(probe.steps))
            raw_ms = statistics.median(
                [await _raw(engine, run_id, probe.results) for _ in range(repeat)]
            )
            await probe.watcher.dispose()
    finally:
        standin.terminate()
        standin.wait(10)
    steps = _median_steps(runs_steps)
    sizes = [s.state_kb for s in steps]
    print(
        f"{'step':<16}{'job ms':>8}{'operator':>10}{'overhead':>10}{'SQL':>6}{'trips':>6}{'tx':>4}"
        f"{'state KB':>10}"
    )
    for s in steps:
        print(
            f"{s.element_id:<16}{s.wall_ms:8.1f}{s.operator_ms:10.1f}{s.overhead_ms:10.1f}"
            f"{s.statements:6d}{s.round_trips:6d}{s.transactions:4d}{s.state_kb:10.1f}"
        )
    overhead = [s.overhead_ms for s in steps]
    validations = [i for i, s in enumerate(steps) if s.element_id == "validate"]
    first = statistics.mean(overhead[: validations[1]]) if len(validations) > 1 else overhead[0]
    last = (
        statistics.mean(overhead[validations[-2] : validations[-1]])
        if len(validations) > 2
        else overhead[-1]
    )
    per_step = statistics.mean(overhead)
    print(
        f"run: {len(steps)} steps in {total_ms:.0f} ms (the last of {repeat}; each step's "
        f"overhead is its median over the {repeat}); raw SpiffWorkflow {raw_ms:.2f} ms/step"
    )
    print(
        f"engine per_step={per_step:.1f} ms raw={raw_ms:.2f} ms ratio={per_step / raw_ms:.0f} "
        f"first_iteration={first:.1f} ms last_iteration={last:.1f} ms "
        f"statements/step={statistics.mean(s.statements for s in steps):.1f} "
        f"round_trips/step={statistics.mean(s.round_trips for s in steps):.1f} "
        f"transactions/step={statistics.mean(s.transactions for s in steps):.1f} "
        f"state_kb={sizes[0]:.0f}→{sizes[-1]:.0f}"
    )
    return 0


def _median_steps(runs_steps: list[list[Step]]) -> list[Step]:
    """Each step of the run with the median of its times over the repeated runs (the same
    diagram and results, so the same steps in the same order): a step that another process
    on this shared machine slowed down in one run does not count."""
    length = min(len(steps) for steps in runs_steps)
    out = []
    for i in range(length):
        same = sorted((steps[i] for steps in runs_steps), key=lambda s: s.overhead_ms)
        out.append(same[len(same) // 2])
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench engine", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="measured runs (median per step)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="weavergen-engine-bench-") as tmp:
        return asyncio.run(bench(Path(tmp), max(1, args.repeat)))
