"""The quality prediction's inputs as a flat dict of named numbers (`features`), kept with every
candidate (`CandidateOutcome.features`) so a model can be fitted on them
(engine/decisions/quality_fit.py).

The features, every one a float (a count, a 0/1 flag or a rate):

    gate_failed         1 when the code does not parse or build (or a cheap stage hit a limit)
    lint_errors         lint, format and vet errors, at most `MAX_COUNTED`
    type_errors         type errors, at most `MAX_COUNTED`
    security_errors     security errors, at most `MAX_COUNTED`
    agreement           the fraction of all candidates in this candidate's group (1.0 alone of 1)
    candidates          how many candidates there were (1 without consensus)
    consensus_share     the hand-set agreement term's input: (a - 1/n) / (1 - 1/n), 0 for n = 1
    alone               1 when the candidate is alone among three or more (its group of one)
    history_passed      this model group's earlier candidates for the task type and language
    history_total       that passed, and all of them
    history_logit       logit of the Beta(1 + passed, 1 + failed) mean, 0 without history
    similar_successes   successful solutions of similar requests that memory recalled
    recalled_failures   fix memories (earlier failures and what fixed them) recalled for this
                        request
    correction_hits     distinct names a person objected to in a recalled correction (memory's
                        `avoid`) that appear as identifiers in this candidate's files

Memory counts are capped at `MAX_MEMORY_COUNTED`. The memory features come from the result of
`memory.recall` (a dict with `similar_successes`, `memories`, `avoid`, ...); without it (None)
they are 0. `signals_of` turns features back into the hand-set model's `Signals`, so the
hand-set prediction can be made again from stored features.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from engine.decisions.quality import MAX_COUNTED, Signals

MAX_MEMORY_COUNTED = 10
FEATURES = (
    "gate_failed",
    "lint_errors",
    "type_errors",
    "security_errors",
    "agreement",
    "candidates",
    "consensus_share",
    "alone",
    "history_passed",
    "history_total",
    "history_logit",
    "similar_successes",
    "recalled_failures",
    "correction_hits",
)
_IDENTIFIER_CHAR = r"[A-Za-z0-9_$]"


def features_of(
    s: Signals,
    memory: Mapping[str, Any] | None = None,
    files: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """The features of a candidate from its signals, the recalled memory (None: nothing
    recalled) and its files (for `correction_hits`); see the module docstring."""
    n = max(1, s.candidates)
    a = min(1.0, max(1 / n, s.agreement))
    passed = max(0, s.history_passed)
    total = max(passed, s.history_total)
    return {
        "gate_failed": 1.0 if s.gate_failed else 0.0,
        "lint_errors": float(_cap(s.lint_errors, MAX_COUNTED)),
        "type_errors": float(_cap(s.type_errors, MAX_COUNTED)),
        "security_errors": float(_cap(s.security_errors, MAX_COUNTED)),
        "agreement": float(s.agreement),
        "candidates": float(s.candidates),
        "consensus_share": 0.0 if n == 1 else (a - 1 / n) / (1 - 1 / n),
        "alone": 1.0 if n > 2 and math.isclose(a, 1 / n) else 0.0,
        "history_passed": float(passed),
        "history_total": float(total),
        "history_logit": math.log((1 + passed) / (1 + total - passed)),
        **memory_features(memory, files),
    }


def memory_features(
    memory: Mapping[str, Any] | None, files: Mapping[str, str] | None = None
) -> dict[str, float]:
    """`similar_successes`, `recalled_failures`, `correction_hits` (all 0 without memory).

    `recalled_failures` counts the recalled memories of kind `fix`; a recall result without
    `memories` (the older form, a list of `fixes`) counts its fixes."""
    if not memory:
        return {"similar_successes": 0.0, "recalled_failures": 0.0, "correction_hits": 0.0}
    memories = memory.get("memories")
    if isinstance(memories, list):
        failures = sum(1 for m in memories if isinstance(m, Mapping) and m.get("kind") == "fix")
    else:
        fixes = memory.get("fixes")
        failures = len(fixes) if isinstance(fixes, list) else 0
    avoid = memory.get("avoid")
    names = [a for a in avoid if isinstance(a, str)] if isinstance(avoid, list) else []
    return {
        "similar_successes": float(_cap(_int(memory.get("similar_successes")), MAX_MEMORY_COUNTED)),
        "recalled_failures": float(_cap(failures, MAX_MEMORY_COUNTED)),
        "correction_hits": float(_cap(correction_hits(names, files or {}), MAX_MEMORY_COUNTED)),
    }


def correction_hits(avoid: Iterable[str], files: Mapping[str, str]) -> int:
    """How many distinct names of `avoid` appear in the files as whole identifiers (not as a
    part of a longer name: `eval` is not found in `evaluate` or `my_eval`)."""
    code = "\n".join(files.values())
    hits = 0
    for name in {a.strip() for a in avoid if a.strip()}:
        pattern = rf"(?<!{_IDENTIFIER_CHAR}){re.escape(name)}(?!{_IDENTIFIER_CHAR})"
        if re.search(pattern, code):
            hits += 1
    return hits


def signals_of(features: Mapping[str, float]) -> Signals:
    """The hand-set model's signals from features (missing ones 0; `agreement` and
    `candidates` 1), so the hand-set prediction can be made from stored features."""

    def get(name: str, default: float = 0.0) -> float:
        return float(features.get(name, default))

    return Signals(
        gate_failed=get("gate_failed") >= 0.5,
        lint_errors=round(get("lint_errors")),
        type_errors=round(get("type_errors")),
        security_errors=round(get("security_errors")),
        agreement=get("agreement", 1.0),
        candidates=max(1, round(get("candidates", 1.0))),
        history_passed=round(get("history_passed")),
        history_total=round(get("history_total")),
        correction_hits=round(get("correction_hits")),
    )


def _cap(value: int, most: int) -> int:
    return min(max(value, 0), most)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
