"""The learning recorder: an asyncio task per process that drains `LearningEvents` into the
learning stores. A finished step is one outcome record; when a run finishes, the recorder
also reads the run's validation and improve steps to record failure signatures, the fixes
that resolved them, whether each improve iteration helped, and people's corrections; and
every step of the run as a visit of its element, with the flows its gateways took
(engine/learning/visits.py); and the run's memories (engine/memory/capture.py), with whether
the memories it recalled helped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.learning import Correction, FailureFix, IterationOutcome, RunOutcome, StepOutcome
from engine.decisions.rules import rules
from engine.learning import Learning
from engine.learning.events import LearningEvents, RunFinished, StepFinished
from engine.learning.signatures import signatures
from engine.learning.visits import PinnedDiagram, element_visits, pinned_diagram
from engine.memory.capture import run_memories
from engine.memory.embedder import embed
from engine.tables import artifacts, blobs, diagram_versions, incidents, runs, steps

if TYPE_CHECKING:
    from adapters.models import ModelRouter

log = logging.getLogger(__name__)


class LearningRecorder:
    """Drains learning events into the learning stores."""

    def __init__(
        self,
        learning: Learning,
        db: AsyncEngine,
        events: LearningEvents,
        models: ModelRouter | None = None,
    ) -> None:
        self.learning = learning
        self.db = db
        self.events = events
        self.models = models  # embeds memories when it has an `embedder` group
        self._diagrams: dict[int, PinnedDiagram] = {}  # by version id (versions never change)

    async def run_forever(self, poll: float = 0.2) -> None:
        """Record until cancelled; a failing record is logged, never raised."""
        while True:
            await self.drain()
            await asyncio.sleep(poll)

    async def drain(self) -> int:
        """Record everything queued now; returns how many events were handled. The steps
        that finished since the last drain are written together."""
        n = 0
        steps: list[StepOutcome] = []
        while (event := self.events.take()) is not None:
            n += 1
            if isinstance(event, StepFinished):
                steps.append(event.outcome)
                continue
            await self._record_steps(steps)
            steps = []
            try:
                await self._run_finished(event)
            except Exception:  # learning must never take the worker down
                log.exception("could not record %s", type(event).__name__)
        await self._record_steps(steps)
        return n

    async def _record_steps(self, steps: list[StepOutcome]) -> None:
        if not steps:
            return
        try:
            await self.learning.outcomes.record_steps(steps)
        except Exception:
            log.exception("could not record %d finished steps", len(steps))

    async def _run_finished(self, event: RunFinished) -> None:
        run_id = event.run_id
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
            incident_counts = await _incident_counts(conn, run_id)
            files = await _final_files(conn, run_id)
            diagrams = await self._pinned(conn, run["spec_versions"])
        request = run["request"]
        language = request.get("language", "python")
        task_type = run["task_type"] or rules(request.get("text", ""))["task_type"]
        pattern = event.pattern or run["pattern"] or run["entry"]
        improves = [r for r in rows if r["operator"] == "llm.improve" and r["state"] == "completed"]
        validations = [r for r in rows if r["operator"] == "validate.code" and r["result"]]
        outcome = RunOutcome(
            run_id=str(run_id),
            pattern=pattern,
            language=language,
            task_type=task_type,
            success=event.status == "completed",
            duration_ms=event.duration_ms,
            tokens_in=int(run["tokens_in"]),
            tokens_out=int(run["tokens_out"]),
            iterations=len(improves),
            score=validations[-1]["result"].get("score") if validations else None,
            at=run["finished_at"] or datetime.now(UTC),
        )
        await self.learning.outcomes.record_run(outcome)
        try:
            visits, flows = element_visits(run, rows, incident_counts, diagrams)
            await self.learning.outcomes.record_visits(visits, flows)
        except Exception:  # the rest of the run's records still go
            log.exception("could not record the element visits of run %s", run_id)
        if self.learning.knowledge is not self.learning.outcomes:
            await self.learning.knowledge.record_run(outcome, request.get("text", ""))
        people: list[tuple[str, dict[str, Any]]] = []
        for r in rows:  # people's answers (approvals, reviews) are learning data too
            if r["kind"] == "UserTask" and isinstance(r["result"], dict):
                people.append((r["element_id"], r["result"]))
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
        fixes: list[FailureFix] = []
        for before, after in zip(validations, validations[1:], strict=False):
            sigs = signatures(before["result"].get("findings") or [])
            if before["result"].get("passed") or not sigs:
                continue
            helped = bool(after["result"].get("passed"))
            improve = next(
                (
                    r
                    for r in improves
                    if before["started_at"] <= r["started_at"] <= after["started_at"]
                ),
                None,
            )
            fix = _fix_summary(improve, answers) if helped else ""
            group = str((improve["result"] or {}).get("model_group") or "") if improve else ""
            for sig in sigs:
                await self.learning.outcomes.record_iteration(
                    IterationOutcome(
                        run_id=str(run_id), signature=sig, language=language, helped=helped
                    )
                )
                item = FailureFix(
                    run_id=str(run_id),
                    request=request.get("text", "")[:500],
                    pattern=pattern,
                    language=language,
                    signature=sig,
                    fix=fix,
                    model_group=group,
                )
                fixes.append(item)
                await self.learning.knowledge.record_failure_fix(item)
        await self._remember(run, rows, outcome, files, fixes, people)

    async def _remember(
        self,
        run: Any,
        rows: Any,
        outcome: RunOutcome,
        files: dict[str, str],
        fixes: list[FailureFix],
        people: list[tuple[str, dict[str, Any]]],
    ) -> None:
        """Keep the run's memories, and tell the store whether what it recalled helped."""
        groups = [
            str(r["result"].get("model_group"))
            for r in rows
            if isinstance(r["result"], dict) and r["result"].get("model_group")
        ]
        memories = run_memories(
            dict(run), outcome, files, fixes, people, groups[-1] if groups else ""
        )
        vectors, _ = await embed(self.models, [m.text for m in memories])
        if vectors:
            memories = [
                m.model_copy(update={"embedding": v})
                for m, v in zip(memories, vectors, strict=True)
            ]
        knowledge = self.learning.knowledge
        await knowledge.record_memories(memories)
        recalled = sorted(
            {
                str(m["id"])
                for r in rows
                if r["operator"] == "memory.recall" and isinstance(r["result"], dict)
                for m in r["result"].get("memories") or []
                if isinstance(m, dict) and m.get("id")
            }
        )
        if recalled:
            await knowledge.record_recall(recalled, outcome.success)

    async def _pinned(self, conn: AsyncConnection, pinned: dict[str, int]) -> list[PinnedDiagram]:
        """The diagram versions a run pinned (read once per process, then kept)."""
        missing = [vid for vid in pinned.values() if vid not in self._diagrams]
        if missing:
            dv = diagram_versions.c
            found = await conn.execute(
                select(dv.id, dv.diagram_id, dv.version, dv.xml, dv.subprocesses).where(
                    dv.id.in_(missing)
                )
            )
            for vid, diagram_id, version, xml, subprocesses in found:
                self._diagrams[vid] = pinned_diagram(diagram_id, version, xml, subprocesses or {})
        return [self._diagrams[vid] for vid in pinned.values() if vid in self._diagrams]


async def _final_files(conn: AsyncConnection, run_id: Any) -> dict[str, str]:
    """The code and test files a run ended with (the latest artifact of each path)."""
    found = await conn.execute(
        select(artifacts.c.path, artifacts.c.content)
        .where(artifacts.c.run_id == run_id, artifacts.c.kind.in_(("code", "test")))
        .order_by(artifacts.c.created_at)
    )
    return {path: content for path, content in found}


async def _incident_counts(conn: AsyncConnection, run_id: Any) -> dict[Any, int]:
    """How many incidents each step of a run had, by task id."""
    found = await conn.execute(
        select(incidents.c.task_id, func.count())
        .where(incidents.c.run_id == run_id)
        .group_by(incidents.c.task_id)
    )
    return {task_id: int(n) for task_id, n in found}


def _fix_summary(improve: Any, answers: dict[str, str]) -> str:
    if improve is None or not improve["result"]:
        return "changed the code"
    text = answers.get(str(improve["result"].get("answer")), "")
    prose = " ".join(p.strip() for p in text.split("```")[::2] if p.strip())
    files = ", ".join(sorted((improve["result"].get("files") or {}).keys()))
    summary = prose[:240] if prose else f"rewrote {files}"
    return summary or "changed the code"


@contextlib.asynccontextmanager
async def recording(
    learning: Learning, db: AsyncEngine, events: LearningEvents, models: ModelRouter | None = None
) -> AsyncIterator[LearningRecorder]:
    """Run a recorder for the life of the block; record what is left on the way out."""
    recorder = LearningRecorder(learning, db, events, models)
    task = asyncio.create_task(recorder.run_forever())
    try:
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await recorder.drain()
        await learning.flush()
