"""`memory.recall`: fetch the fixes that resolved the same failures before, for the prompt."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from adapters.learning import LearningUnavailable
from engine.learning.signatures import signatures
from engine.ops import OPERATORS
from engine.steps.contract import StepContext

MAX_SUMMARY_CHARS = 1200  # about 300 tokens: recall must not crowd out the code


class RecallInput(BaseModel):
    """The failing validation result whose findings we look up."""

    report: dict[str, Any] | None = None
    limit: int = 5


def summarize(fixes: list[dict[str, Any]]) -> str:
    """A compact list of past fixes, bounded to MAX_SUMMARY_CHARS."""
    lines: list[str] = []
    used = 0
    for fix in fixes:
        line = f"- {fix['signature']} → {fix['fix']}"[:300]
        if used + len(line) > MAX_SUMMARY_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


@OPERATORS.register("memory.recall", RecallInput, decision=True)
async def recall(inputs: RecallInput, ctx: StepContext) -> dict[str, Any]:
    """Look up fixes linked to these failure signatures in earlier runs."""
    sigs = signatures((inputs.report or {}).get("findings") or [])
    evidence: dict[str, Any] = {"signatures": sigs, "language": ctx.request.language}
    fixes: list[dict[str, Any]] = []
    if sigs:
        try:
            found = await ctx.services.learning.knowledge.fixes_for(
                sigs, ctx.request.language, limit=inputs.limit
            )
            fixes = [
                {"signature": f.signature, "fix": f.fix, "run_id": f.run_id, "pattern": f.pattern}
                for f in found
            ]
        except LearningUnavailable as exc:
            evidence["learning_error"] = str(exc)
    evidence["fixes_found"] = len(fixes)
    summary = summarize(fixes)
    return {
        "choice": "recalled" if fixes else "nothing",
        "summary": summary,
        "fixes": fixes,
        "evidence": {**evidence, "rule": f"{len(fixes)} earlier fix(es) for these failures"},
        "confidence": 1.0 if fixes else 0.0,
    }
