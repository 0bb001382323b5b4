"""`intent.classify`: which pattern fits a request; the rules, then the learned classifier
(engine/decisions/learned.py), the model only when both are unsure."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel

from adapters.models import ModelRouter
from engine.decisions.learned import classify_request
from engine.ops import OPERATORS
from engine.prompts import PromptLibrary
from engine.runs.requests import RunRequest
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
    """Classify the request: rules, then the learned classifier, the model when both are
    unsure."""
    settled = await asyncio.to_thread(classify_request, ctx.request.text)
    if settled["source"] != "none":
        return settled
    answer = await ask_model(
        ctx.services.models, ctx.services.prompts, ctx.request, str(ctx.run_id)
    )
    ctx.usage.update(answer.pop("_usage"))
    return answer if answer["pattern"] else {**settled, "source": "rules (model answer unusable)"}


async def ask_model(
    models: ModelRouter, prompts: PromptLibrary, request: RunRequest, user: str
) -> dict[str, Any]:
    """The classifier model's answer (`pattern` None when it was unusable), with `_usage`."""
    messages = prompts.messages(
        "classify", request=request, language=request.language, group="classifier", inputs={}
    )
    answer = await models.complete("classifier", messages, json_schema=CLASSIFY_SCHEMA, user=user)
    usage = {
        "tokens_in": answer.tokens_in,
        "tokens_out": answer.tokens_out,
        "model_group": answer.model_group,
        "deployment": answer.deployment,
    }
    try:
        parsed = json.loads(answer.text)
        pattern = parsed["pattern"] if parsed.get("pattern") in PATTERNS else None
        confidence = float(parsed.get("confidence", 0.5))
    except (ValueError, TypeError, KeyError):
        pattern, confidence, parsed = None, 0.0, {}
    return {
        "pattern": pattern,
        "task_type": str(parsed.get("task_type", "unknown"))[:60],
        "confidence": max(0.0, min(confidence, 1.0)),
        "source": "model",
        "_usage": usage,
    }
