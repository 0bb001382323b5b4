"""Learning: which stores to use, and recording from finished spans (no code in operators).

`LearningSpanProcessor` receives every finished span; step and run spans are queued, and
`LearningRecorder` (an asyncio task per process) turns them into outcome records. When a
run ends, the recorder also reads the run's validation and improve steps to record failure
signatures, the fixes that resolved them, and whether each improve iteration helped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.learning import (
    Correction,
    FailureFix,
    IterationOutcome,
    KnowledgeStore,
    OutcomeStore,
    RunOutcome,
    StepOutcome,
    StoreHealth,
)
from adapters.learning_pg import PostgresLearningStore
from engine.ops.intent import rules
from engine.settings import Settings
from engine.signatures import signatures
from engine.tables import blobs, runs, steps

log = logging.getLogger(__name__)


@dataclass
class Learning:
    """The two learning roles of this process."""

    outcomes: OutcomeStore
    knowledge: KnowledgeStore

    def stores(self) -> list[Any]:
        """Each distinct store once."""
        return (
            [self.outcomes] if self.outcomes is self.knowledge else [self.outcomes, self.knowledge]
        )

    def health(self) -> list[StoreHealth]:
        return [s.health() for s in self.stores()]

    async def flush(self) -> None:
        for store in self.stores():
            await store.flush()

    async def close(self) -> None:
        for store in self.stores():
            await store.close()


def build_learning(settings: Settings, db: AsyncEngine) -> Learning:
    """InfluxDB and Neo4j when INFLUX_URL / NEO4J_URI are set, else PostgreSQL tables."""
    pg = PostgresLearningStore(db)
    outcomes: OutcomeStore = pg
    knowledge: KnowledgeStore = pg
    if settings.influx_url:
        from adapters.learning_influx import InfluxOutcomeStore

        password = settings.influx_password.get_secret_value() if settings.influx_password else None
        outcomes = InfluxOutcomeStore(
            settings.influx_url,
            database=settings.influx_database,
            username=settings.influx_username,
            password=password,
        )
    if settings.neo4j_uri:
        from adapters.learning_neo4j import Neo4jKnowledgeStore

        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
        knowledge = Neo4jKnowledgeStore(
            settings.neo4j_uri, user=settings.neo4j_user, password=password
        )
    return Learning(outcomes, knowledge)


class LearningSpanProcessor(SpanProcessor):
    """Queues finished step and run spans for the recorder (thread-safe, never blocks)."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self.queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(maxsize)
        self.dropped = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if not span.name.startswith(("step ", "run ")):
            return
        attrs = dict(span.attributes or {})
        if span.start_time and span.end_time:
            attrs.setdefault("weavergen.duration_ms", (span.end_time - span.start_time) / 1e6)
        try:
            self.queue.put_nowait((span.name.split(" ", 1)[0], attrs))
        except queue.Full:
            self.dropped += 1

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class LearningRecorder:
    """Drains the span queue into the learning stores."""

    def __init__(
        self, learning: Learning, db: AsyncEngine, processor: LearningSpanProcessor
    ) -> None:
        self.learning = learning
        self.db = db
        self.processor = processor

    async def run_forever(self, poll: float = 0.2) -> None:
        """Record until cancelled; a failing record is logged, never raised."""
        while True:
            await self.drain()
            await asyncio.sleep(poll)

    async def drain(self) -> int:
        """Record everything queued now; returns how many spans were handled."""
        n = 0
        while True:
            try:
                kind, attrs = self.processor.queue.get_nowait()
            except queue.Empty:
                return n
            n += 1
            try:
                if kind == "step":
                    await self.learning.outcomes.record_step(_step(attrs))
                else:
                    await self._run_finished(attrs)
            except Exception:  # learning must never take the worker down
                log.exception("could not record %s span", kind)

    async def _run_finished(self, attrs: dict[str, Any]) -> None:
        run_id = UUID(str(attrs["weavergen.run_id"]))
        async with self.db.connect() as conn:
            run = (await conn.execute(select(runs).where(runs.c.id == run_id))).mappings().one()
            rows = (
                (
                    await conn.execute(
                        select(steps)
                        .where(steps.c.run_id == run_id)
                        .order_by(steps.c.started_at, steps.c.element_id)
                    )
                )
                .mappings()
                .all()
            )
            answers = {
                str(r["id"]): r["content"]
                for r in (
                    await conn.execute(
                        select(blobs.c.id, blobs.c.content).where(
                            blobs.c.run_id == run_id, blobs.c.kind == "answer"
                        )
                    )
                ).mappings()
            }
        request = run["request"]
        language = request.get("language", "python")
        intent = next(
            (r["result"] for r in rows if r["operator"] == "intent.classify" and r["result"]), None
        )
        task_type = (intent or {}).get("task_type") or rules(request.get("text", ""))["task_type"]
        pattern = str(attrs.get("weavergen.pattern") or run["pattern"] or run["entry"])
        improves = [r for r in rows if r["operator"] == "llm.improve" and r["state"] == "completed"]
        validations = [r for r in rows if r["operator"] == "validate.code" and r["result"]]
        outcome = RunOutcome(
            run_id=str(run_id),
            pattern=pattern,
            language=language,
            task_type=task_type,
            success=attrs.get("weavergen.outcome") == "completed",
            duration_ms=float(attrs.get("weavergen.duration_ms", 0.0)),
            tokens_in=int(run["tokens_in"]),
            tokens_out=int(run["tokens_out"]),
            iterations=len(improves),
            score=validations[-1]["result"].get("score") if validations else None,
            at=run["finished_at"] or datetime.now(UTC),
        )
        await self.learning.outcomes.record_run(outcome)
        if self.learning.knowledge is not self.learning.outcomes:
            await self.learning.knowledge.record_run(outcome, request.get("text", ""))
        for r in rows:  # people's answers (approvals, reviews) are learning data too
            if r["kind"] == "UserTask" and isinstance(r["result"], dict):
                approved = r["result"].get("approved")
                await self.learning.knowledge.record_correction(
                    Correction(
                        run_id=str(run_id),
                        step=r["element_id"],
                        approved=approved if isinstance(approved, bool) else None,
                        comment=str(r["result"].get("comment", ""))[:2000],
                        at=r["finished_at"] or datetime.now(UTC),
                    )
                )
        for before, after in zip(validations, validations[1:], strict=False):
            sigs = signatures(before["result"].get("findings") or [])
            if before["result"].get("passed") or not sigs:
                continue
            helped = bool(after["result"].get("passed"))
            fix = ""
            if helped:
                improve = next(
                    (
                        r
                        for r in improves
                        if before["started_at"] <= r["started_at"] <= after["started_at"]
                    ),
                    None,
                )
                fix = _fix_summary(improve, answers)
            for sig in sigs:
                await self.learning.outcomes.record_iteration(
                    IterationOutcome(
                        run_id=str(run_id), signature=sig, language=language, helped=helped
                    )
                )
                await self.learning.knowledge.record_failure_fix(
                    FailureFix(
                        run_id=str(run_id),
                        request=request.get("text", "")[:500],
                        pattern=pattern,
                        language=language,
                        signature=sig,
                        fix=fix,
                    )
                )


def _fix_summary(improve: Any, answers: dict[str, str]) -> str:
    if improve is None or not improve["result"]:
        return "changed the code"
    text = answers.get(str(improve["result"].get("answer")), "")
    prose = " ".join(p.strip() for p in text.split("```")[::2] if p.strip())
    files = ", ".join(sorted((improve["result"].get("files") or {}).keys()))
    summary = prose[:240] if prose else f"rewrote {files}"
    return summary or "changed the code"


def _step(attrs: dict[str, Any]) -> StepOutcome:
    return StepOutcome(
        run_id=str(attrs.get("weavergen.run_id", "")),
        task_id=str(attrs.get("weavergen.task_id", "")),
        pattern=str(attrs.get("weavergen.pattern", "")),
        step=str(attrs.get("weavergen.step", "")),
        operator=str(attrs.get("weavergen.operator", "")),
        model_group=str(attrs.get("weavergen.model_group", "")),
        deployment=str(attrs.get("weavergen.deployment", "")),
        language=str(attrs.get("weavergen.language", "")),
        task_type=str(attrs.get("weavergen.task_type", "unknown")),
        success=attrs.get("weavergen.outcome") == "completed",
        duration_ms=float(attrs.get("weavergen.duration_ms", 0.0)),
        tokens_in=int(attrs.get("weavergen.tokens_in", 0)),
        tokens_out=int(attrs.get("weavergen.tokens_out", 0)),
        score=attrs.get("weavergen.score"),
        attempt=int(attrs.get("weavergen.attempt", 1)),
        iteration=int(attrs.get("weavergen.visit", 1)),
    )


@contextlib.asynccontextmanager
async def recording(learning: Learning, db: AsyncEngine, processor: LearningSpanProcessor):  # type: ignore[no-untyped-def]
    """Run a recorder for the life of the block; record what is left on the way out."""
    recorder = LearningRecorder(learning, db, processor)
    task = asyncio.create_task(recorder.run_forever())
    try:
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await recorder.drain()
        await learning.flush()
