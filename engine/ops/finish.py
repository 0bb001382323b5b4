"""`run.finish`: declare the run's outcome and its final artifacts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.ops import OPERATORS
from engine.ops.files import artifact_ids
from engine.steps.contract import StepContext


class FinishInput(BaseModel):
    """Outcome and the results whose files are the run's deliverables."""

    status: Literal["completed", "failed"]
    files: list[Any] = Field(default_factory=list)


@OPERATORS.register("run.finish", FinishInput, finishes=True)
async def finish(inputs: FinishInput, ctx: StepContext) -> dict[str, Any]:
    """Record the outcome; the engine marks the files final."""
    return {"status": inputs.status, "files": artifact_ids(inputs.files)}
