"""Classification rules: which pattern and task type a request's words point to.

Deterministic and cheap: `intent.classify` asks the classifier model only when these are
unsure, and a run stores the task type once (see `runs.task_type`).
"""

from __future__ import annotations

import re
from typing import Any

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


# patterns that can serve a task type; learning only chooses among these
CANDIDATES: dict[str, list[str]] = {
    "function": ["quick", "standard"],
    "feature": ["standard", "quick"],
    "unknown": ["standard", "quick"],
    "bug_fix": ["bug_fix"],
    "schema_change": ["migration"],
}
PRIOR_WEIGHT = 2.0  # pseudo-successes the rules' choice starts with
