"""`python -m bench corrections` (`weavergen correction-bench`): does a person's correction
change what later runs do?

A throwaway engine, the stand-in model scripted by bench/corrections_script.yaml (NOT a real
model: it leaves a debug `print` in its code unless the prompt warns against it), and the
diagram bench/diagrams/reviewed (recall → implement → validate → a person reviews). The
person is simulated: every result with a `print` call is rejected with the comment below,
every other one approved. The first two requests arrive together (both make the mistake and
both are rejected); the rest, similar requests in other words, one after another. The last
line reads `corrections: mistake avoided in K of N runs after 2 rejections (P %)`; the
target is at least 80 %.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from sqlalchemy import select

from adapters.models import single_endpoint_config
from bench.local_engine import local_engine
from engine.runs import RunRequest
from engine.settings import ROOT, Settings
from engine.tables import artifacts, runs, steps

COMMENT = "Remove the debug `print` calls: this code runs inside a server."
MISTAKE = "print("
OPENERS = (
    "Write a function total(text) that sums the comma-separated numbers in {x}",
    "I need total(text): add up the numbers separated by commas in {x}",
    "Give me a function total(text) returning the sum of the comma-separated numbers in {x}",
    "Can you write total(text), which sums comma separated numbers found in {x}?",
    "Implement total(text) to add the numbers in {x}; they are separated by commas",
)
WHATS = ("a string", "the text", "an input line", "a CSV row", "the given string", "a line")


def requests(n: int) -> list[str]:
    """n similar requests in other words (generated: opener × object)."""
    return [OPENERS[i % len(OPENERS)].format(x=WHATS[(i // 2) % len(WHATS)]) for i in range(n)]


async def _wait_review(engine: Any, run_id: UUID, timeout: float = 120.0) -> UUID:
    """The task id of the run's review once it waits for a person."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with engine.db.connect() as conn:
            row = (
                await conn.execute(
                    select(steps.c.task_id).where(
                        steps.c.run_id == run_id,
                        steps.c.element_id == "review",
                        steps.c.finished_at.is_(None),
                    )
                )
            ).first()
            status = (await conn.execute(select(runs.c.status).where(runs.c.id == run_id))).scalar()
        if row is not None:
            return UUID(str(row.task_id))
        if status in ("failed", "incident", "cancelled"):
            raise RuntimeError(f"run {run_id} ended {status} before its review")
        await asyncio.sleep(0.05)
    raise TimeoutError(f"run {run_id} did not reach its review within {timeout:.0f} s")


async def _code_and_recall(engine: Any, run_id: UUID) -> tuple[str, dict[str, Any]]:
    async with engine.db.connect() as conn:
        code = "\n".join(
            c
            for (c,) in await conn.execute(
                select(artifacts.c.content).where(
                    artifacts.c.run_id == run_id, artifacts.c.kind == "code"
                )
            )
        )
        recall = (
            await conn.execute(
                select(steps.c.result).where(
                    steps.c.run_id == run_id, steps.c.element_id == "remember"
                )
            )
        ).scalar()
    return code, recall or {}


async def _one(engine: Any, text: str) -> tuple[bool, dict[str, Any], UUID]:
    """Run one request up to its review and answer as the person would; (mistake made, what
    was recalled, run id)."""
    run_id = await engine.runs.start(RunRequest(text=text, diagram="reviewed"), created_by="bench")
    task_id = await _wait_review(engine, run_id)
    code, recall = await _code_and_recall(engine, run_id)
    mistake = MISTAKE in code
    answer = (
        {"approved": False, "comment": COMMENT} if mistake else {"approved": True, "comment": ""}
    )
    await engine.runs.complete_user_task(run_id, task_id, answer, by="reviewer")
    return mistake, recall, run_id


async def _finished(engine: Any, run_ids: list[UUID], recorder: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with engine.db.connect() as conn:
            done = (
                await conn.execute(
                    select(runs.c.id).where(
                        runs.c.id.in_(run_ids), runs.c.status.in_(("completed", "failed"))
                    )
                )
            ).all()
        if len(done) == len(run_ids):
            await recorder.drain()
            await engine.learning.flush()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("runs did not finish after their review")


async def bench(n_runs: int, workdir: Path) -> float:
    from standin.options import StandinOptions
    from standin.runner import StandinThread
    from standin.script import Script

    script = Script.model_validate(
        yaml.safe_load((ROOT / "bench" / "corrections_script.yaml").read_text())
    )
    standin = StandinThread(StandinOptions(script=script)).start()
    models = workdir / "models.yaml"
    models.write_text(single_endpoint_config(standin.api_base, ["coder", "classifier", "embedder"]))
    settings = Settings(models_file=models, data_dir=workdir)
    texts = requests(n_runs + 2)
    avoided = recalled = 0
    try:
        async with local_engine(settings, service="weavergen-corrections", concurrency=4) as (
            engine,
            recorder,
        ):
            await engine.catalog.sync_folder(ROOT / "bench" / "diagrams" / "reviewed")
            first = await asyncio.gather(*(_one(engine, t) for t in texts[:2]))
            await _finished(engine, [r for _, _, r in first], recorder)
            made = sum(1 for m, _, _ in first if m)
            print(f"runs 1-2 (together): mistake made {made}/2, rejected with: {COMMENT!r}")
            for i, text in enumerate(texts[2:], start=3):
                mistake, recall, run_id = await _one(engine, text)
                await _finished(engine, [run_id], recorder)
                seen = int(recall.get("corrections") or 0)
                avoided += not mistake
                recalled += seen > 0
                print(
                    f"run {i:3d}: {'MISTAKE' if mistake else 'avoided'}  corrections recalled "
                    f"{seen}  ({text})",
                    file=sys.stderr,
                )
            last = recall.get("evidence", {})
            print(f"evidence of the last run's recall: {recall.get('summary', '')!r}")
            print(
                f"  store {last.get('store')}, {last.get('candidates')} candidates, "
                f"ranker: {last.get('ranker')}, {last.get('tokens')} tokens"
            )
    finally:
        standin.stop()
    share = avoided / n_runs if n_runs else 0.0
    print(f"correction recalled in {recalled} of {n_runs} runs")
    print(
        f"corrections: mistake avoided in {avoided} of {n_runs} runs after 2 rejections "
        f"({share * 100:.0f} %)"
    )
    return share


def main(argv: list[str] | None = None) -> int:
    """Command line entry; exit 0 when at least 80 % of the later runs avoid the mistake."""
    parser = argparse.ArgumentParser(prog="weavergen correction-bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="runs after the two rejections")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="weavergen-corrections-"))
    workdir.chmod(0o755)  # the embedded PostgreSQL runs as its own user
    try:
        share = asyncio.run(bench(args.runs, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if share >= 0.8 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
