"""Where operators keep large outputs (blobs) and files (artifacts) of their run."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import reads
from engine.errors import OperatorError
from engine.tables import artifacts, blobs, steps


class RunStore:
    """The `StepStore` of one step: writes are tagged with run, task and element."""

    def __init__(
        self,
        db: AsyncEngine,
        run_id: UUID,
        task_id: UUID,
        element_id: str,
        process_id: str | None = None,
    ) -> None:
        self.db = db
        self.reads = reads(db)
        self.run_id = run_id
        self.task_id = task_id
        self.element_id = element_id
        self.process_id = process_id

    async def put_blob(self, kind: str, content: str) -> str:
        """Store a large text (prompt, answer); returns its id."""
        blob_id = uuid.uuid4()
        async with self.db.begin() as conn:
            await conn.execute(
                blobs.insert().values(
                    id=blob_id, run_id=self.run_id, task_id=self.task_id, kind=kind, content=content
                )
            )
        return str(blob_id)

    async def get_blob(self, blob_id: str) -> str:
        """Read a blob of this run."""
        async with self.reads.connect() as conn:
            content = (
                await conn.execute(
                    select(blobs.c.content).where(
                        blobs.c.id == _uuid(blob_id), blobs.c.run_id == self.run_id
                    )
                )
            ).scalar()
        if content is None:
            raise OperatorError(
                f"blob {blob_id} not found in run {self.run_id}", code="bad_reference"
            )
        return str(content)

    async def put_artifact(self, path: str, content: str, kind: str) -> str:
        """Store a produced file; returns its id."""
        artifact_id = uuid.uuid4()
        async with self.db.begin() as conn:
            await conn.execute(
                artifacts.insert().values(
                    id=artifact_id,
                    run_id=self.run_id,
                    task_id=self.task_id,
                    element_id=self.element_id,
                    path=path,
                    kind=kind,
                    content=content,
                )
            )
        return str(artifact_id)

    async def get_artifact(self, artifact_id: str) -> dict[str, Any]:
        """Read an artifact of this run."""
        async with self.reads.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(artifacts).where(
                            artifacts.c.id == _uuid(artifact_id), artifacts.c.run_id == self.run_id
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise OperatorError(
                f"artifact {artifact_id} not found in run {self.run_id}", code="bad_reference"
            )
        return dict(row)

    async def earlier_results(self) -> list[dict[str, Any]]:
        """Results of this element's earlier completed visits in this run, oldest first."""
        query = (
            select(steps.c.result)
            .where(
                steps.c.run_id == self.run_id,
                steps.c.element_id == self.element_id,
                steps.c.task_id != self.task_id,
                steps.c.state == "completed",
                steps.c.result.is_not(None),
            )
            .order_by(steps.c.finished_at)
        )
        if self.process_id is not None:  # the same element id in another called process
            query = query.where(steps.c.process_id == self.process_id)
        async with self.reads.connect() as conn:
            rows = await conn.execute(query)
        return [r[0] for r in rows if isinstance(r[0], dict)]


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise OperatorError(
            f"{value!r} is not an artifact or blob id", code="bad_reference"
        ) from None
