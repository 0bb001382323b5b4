"""Decision operators: `decide.pattern` and `decide.next`, each {choice, evidence, confidence}."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.operators import StepContext
from engine.ops import OPERATORS


class PatternInput(BaseModel):
    """The classification to decide from."""

    intent: dict[str, Any]


@OPERATORS.register("decide.pattern", PatternInput, decision=True)
async def decide_pattern(inputs: PatternInput, ctx: StepContext) -> dict[str, Any]:
    """Choose the pattern: the one the user asked for, else the classification's."""
    requested = ctx.request.get("pattern")
    choice = requested or inputs.intent.get("pattern") or "standard"
    return {
        "choice": choice,
        "confidence": 1.0 if requested else float(inputs.intent.get("confidence", 0.5)),
        "evidence": {
            "requested_pattern": requested,
            "classification": inputs.intent,
            "rule": "user's pattern"
            if requested
            else f"classified by {inputs.intent.get('source')}",
            "learning_data": "not consulted yet (arrives with the learning stores)",
        },
    }


class NextInput(BaseModel):
    """The validation result and the loop bound."""

    report: dict[str, Any]
    max_iterations: int = Field(3, ge=1, le=20)


@OPERATORS.register("decide.next", NextInput, decision=True)
async def decide_next(inputs: NextInput, ctx: StepContext) -> dict[str, Any]:
    """Accept passing code, improve failing code while iterations remain, else reject."""
    iteration = ctx.visit
    passed = bool(inputs.report.get("passed"))
    if passed:
        choice, why = "accept", "validation passed"
    elif iteration < inputs.max_iterations:
        choice, why = (
            "improve",
            f"validation failed; iteration {iteration} of {inputs.max_iterations}",
        )
    else:
        choice, why = "reject", f"validation still failing after {iteration} iterations"
    return {
        "choice": choice,
        "confidence": 1.0,
        "iteration": iteration,
        "evidence": {
            "passed": passed,
            "score": inputs.report.get("score"),
            "iteration": iteration,
            "max_iterations": inputs.max_iterations,
            "findings": len(inputs.report.get("findings") or []),
            "rule": why,
        },
    }
