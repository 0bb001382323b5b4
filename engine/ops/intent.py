"""`intent.classify`: which pattern fits a request; rules first, the model only when unsure."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from engine.operators import StepContext
from engine.ops import OPERATORS

BUG_WORDS = {
    "fix",
    "bug",
    "broken",
    "off-by-one",
    "crash",
    "crashes",
    "regression",
    "fails",
    "failing",
    "wrong",
    "error",
    "exception",
    "incorrect",
}
MIGRATION_WORDS = {
    "migrate",
    "migration",
    "schema",
    "database",
    "table",
    "column",
    "alembic",
    "sql",
    "citext",
    "postgres",
    "postgresql",
    "index",
    "rename",
}
FEATURE_WORDS = {
    "endpoint",
    "service",
    "api",
    "module",
    "class",
    "feature",
    "cli",
    "server",
    "application",
    "app",
    "system",
    "package",
    "library",
}
QUICK_STARTS = (
    "write a function",
    "add a function",
    "implement a function",
    "write a",
    "create a function",
    "implement",
    "write",
)
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


def rules(text: str) -> dict[str, Any]:
    """Deterministic classification with the words that decided it."""
    lowered = text.lower()
    words = set(re.findall(r"[a-z][a-z0-9_-]*", lowered))
    bug = sorted(words & BUG_WORDS)
    migration = sorted(words & MIGRATION_WORDS)
    feature = sorted(words & FEATURE_WORDS)
    n_words = len(lowered.split())
    if "fix" in words and len(bug) >= 2 or len(bug) >= 3:
        return {"pattern": "bug_fix", "task_type": "bug_fix", "confidence": 0.9, "matched": bug}
    if len(migration) >= 2:
        return {
            "pattern": "migration",
            "task_type": "schema_change",
            "confidence": 0.9,
            "matched": migration,
        }
    if n_words <= 30 and lowered.startswith(QUICK_STARTS) and not feature and not bug:
        return {
            "pattern": "quick",
            "task_type": "function",
            "confidence": 0.85,
            "matched": [w for w in QUICK_STARTS if lowered.startswith(w)][:1],
        }
    if len(feature) >= 2:
        return {
            "pattern": "standard",
            "task_type": "feature",
            "confidence": 0.8,
            "matched": feature,
        }
    guess = "bug_fix" if bug else "migration" if migration else "standard"
    return {
        "pattern": guess,
        "task_type": "unknown",
        "confidence": 0.4,
        "matched": bug or migration or feature,
    }


@OPERATORS.register("intent.classify", ClassifyInput)
async def classify(inputs: ClassifyInput, ctx: StepContext) -> dict[str, Any]:
    """Classify the request: rules first, the classifier model when the rules are unsure."""
    ruled = rules(ctx.request["text"])
    if ruled["confidence"] >= 0.7:
        return {**ruled, "source": "rules"}
    router = ctx.services["models"]
    prompts = ctx.services["prompts"]
    messages = prompts.messages(
        "classify",
        request=ctx.request,
        language=ctx.request["language"],
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
