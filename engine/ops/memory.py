"""`memory.recall`: what earlier runs and people taught about this request, for the prompt.

Before a first attempt (no report): solutions of similar requests and people's corrections.
Before an improvement (with the failing validation report): fixes of the same failures first,
then corrections and solutions. The cascade is engine/memory/recall.py; the result goes into
task data (`memory`), and the prompt templates show its `summary`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.learning.signatures import signatures
from engine.memory.rank import QueryContext
from engine.memory.recall import TOKEN_BUDGET, TOP_K, recall
from engine.ops import OPERATORS
from engine.steps.contract import StepContext


class RecallInput(BaseModel):
    """The failing validation result to look up (None before a first attempt)."""

    report: dict[str, Any] | None = None
    purpose: Literal["first", "improve"] | None = Field(
        None,
        description="first attempt or improvement (default: improvement when a report is given)",
    )
    limit: int = Field(TOP_K, ge=1, le=20, description="memories in the prompt at most")
    budget: int = Field(TOKEN_BUDGET, ge=50, le=4000, description="their tokens at most")
    group: str = Field("coder", description="the model group whose tokenizer counts the budget")


def _token_model(ctx: StepContext, group: str) -> str | None:
    groups = ctx.services.models.config.groups
    chosen = groups.get(group) or next(iter(groups.values()), None)
    return chosen.deployments[0].model if chosen else None


@OPERATORS.register("memory.recall", RecallInput, decision=True)
async def recall_memories(inputs: RecallInput, ctx: StepContext) -> dict[str, Any]:
    """Recall the memories most likely to help this step (see the module docstring)."""
    sigs = signatures((inputs.report or {}).get("findings") or [])
    purpose = inputs.purpose or ("improve" if inputs.report is not None else "first")
    request = ctx.request
    text = request.text if not sigs else f"{request.text}\n" + "\n".join(sigs)
    result = await recall(
        ctx.services.learning.knowledge,
        ctx.services.models,
        text=text,
        language=request.language,
        context=QueryContext(
            purpose=purpose, signatures=frozenset(sigs), project=request.project or ""
        ),
        top_k=inputs.limit,
        budget=inputs.budget,
        token_model=_token_model(ctx, inputs.group),
    )
    result["evidence"].update(signatures=sigs, language=request.language)
    return result
