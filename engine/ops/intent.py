"""`intent.classify`: which pattern fits a request; rules first, the model only when unsure."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from engine.decisions.rules import rules
from engine.ops import OPERATORS
from engine.steps.contract import StepContext

PATTERNS = ("quick", "standard", "bug_fix", "migration")
CLASSIFY_SCHEMA = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string", "enum": list(PATTERNS)},
        "task_type": {"type": "string"},
        "confidence": {"type": "number"},
    },
    "required": ["pattern", "task_type", "confidence"],
    "additionalProperties": False,
}


class ClassifyInput(BaseModel):
    """No parameters: the request comes from the run."""


@OPERATORS.register("intent.classify", ClassifyInput, classifies=True)
async def classify(inputs: ClassifyInput, ctx: StepContext) -> dict[str, Any]:
    """Classify the request: rules first, the classifier model when the rules are unsure."""
    ruled = rules(ctx.request.text)
    if ruled["confidence"] >= 0.7:
        return {**ruled, "source": "rules"}
    router = ctx.services.models
    messages = ctx.services.prompts.messages(
        "classify",
        request=ctx.request,
        language=ctx.request.language,
        group="classifier",
        inputs={},
    )
    answer = await router.complete(
        "classifier", messages, json_schema=CLASSIFY_SCHEMA, user=str(ctx.run_id)
    )
    ctx.usage.update(
        tokens_in=answer.tokens_in,
        tokens_out=answer.tokens_out,
        model_group=answer.model_group,
        deployment=answer.deployment,
    )
    try:
        parsed = json.loads(answer.text)
        pattern = parsed["pattern"] if parsed.get("pattern") in PATTERNS else None
        confidence = float(parsed.get("confidence", 0.5))
    except (ValueError, TypeError, KeyError):
        pattern, confidence, parsed = None, 0.0, {}
    if pattern is None:  # the model did not answer usefully: keep the rules' guess
        return {**ruled, "source": "rules (model answer unusable)"}
    return {
        "pattern": pattern,
        "task_type": str(parsed.get("task_type", "unknown"))[:60],
        "confidence": max(0.0, min(confidence, 1.0)),
        "matched": ruled["matched"],
        "source": "model",
        "rules_guess": ruled["pattern"],
    }
