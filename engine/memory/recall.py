"""The recall cascade (see engine/memory/__init__.py): candidates from the knowledge store,
ranked, and the best few written for a prompt within a token budget.

The result (`Recalled`) is what the `memory.recall` operator returns into task data, so every
field is plain JSON: the prompt text, the chosen memories with their features and scores, the
names recalled corrections object to (`avoid`), counts the quality prediction uses, and the
evidence (store, stage sizes and timings, ranker, token count and how it was counted).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from adapters.learning import KnowledgeStore, LearningUnavailable, MemoryCandidate, MemoryQuery
from engine.memory.embedder import embed
from engine.memory.rank import RANKER, QueryContext, features, relevant
from engine.memory.tokens import CHARS_PER_TOKEN, count_tokens

if TYPE_CHECKING:
    from adapters.models import ModelRouter

TOP_K = 5
TOKEN_BUDGET = 500
WIDE_NET = 150  # stage 1's candidates


async def recall(
    knowledge: KnowledgeStore,
    models: ModelRouter | None,
    *,
    text: str,
    language: str,
    context: QueryContext,
    kinds: list[str] | None = None,
    top_k: int = TOP_K,
    budget: int = TOKEN_BUDGET,
    token_model: str | None = None,
) -> dict[str, Any]:
    """Run the three stages; never raises for a store that is down (the evidence says so)."""
    began = time.perf_counter()
    store = getattr(knowledge, "backend", type(knowledge).__name__)
    evidence: dict[str, Any] = {"store": store, "purpose": context.purpose}
    vectors, evidence["embedding"] = await embed(models, [text])
    query = MemoryQuery(
        text=text,
        language=language,
        embedding=vectors[0] if vectors else None,
        project=context.project,
        user=context.user,
        kinds=kinds or [],  # type: ignore[arg-type]
        limit=WIDE_NET,
    )
    t1 = time.perf_counter()
    try:
        cands = await knowledge.memory_candidates(query)
    except LearningUnavailable as exc:
        evidence["learning_error"] = f"{store} unavailable: {exc}"
        return _result([], [], evidence, began)
    t2 = time.perf_counter()
    context = dataclasses.replace(context, text=text, embedded=query.embedding is not None)
    feats = features(cands, context)
    scored = sorted(
        (
            (RANKER.score(f), c, f)
            for c, f in zip(cands, feats, strict=True)
            if relevant(f, context)
        ),
        key=lambda t: (-t[0], t[1].memory.id),
    )
    chosen = _with_warnings([(s, c, f) for s, c, f in scored if f["kind"] > 0], top_k)
    lines, tokens, counted, kept = _fit_budget(chosen, budget, token_model)
    t3 = time.perf_counter()
    evidence.update(
        candidates=len(cands),
        lexical_hits=sum(1 for c in cands if c.lexical is not None),
        vector_hits=sum(1 for c in cands if c.similarity is not None),
        ranker=RANKER.description,
        tokens=tokens,
        budget=budget,
        counted_by=counted,
        ms={
            "embed": round((t1 - began) * 1000, 1),
            "candidates": round((t2 - t1) * 1000, 1),
            "rank": round((t3 - t2) * 1000, 1),
        },
    )
    return _result([chosen[i] for i in kept], lines, evidence, began)


MAX_WARNINGS = 2  # people's corrections kept in the top k even when others score higher


def _with_warnings(
    ranked: list[tuple[float, MemoryCandidate, dict[str, float]]], top_k: int
) -> list[tuple[float, MemoryCandidate, dict[str, float]]]:
    """The best `top_k`, except that up to MAX_WARNINGS relevant corrections always get in
    (in place of the lowest others): ten runs' solutions of the same request must not crowd
    a person's warning out of the prompt."""
    chosen = ranked[:top_k]
    warnings = [r for r in ranked[top_k:] if r[1].memory.kind == "correction"]
    have = sum(1 for r in chosen if r[1].memory.kind == "correction")
    for warning in warnings[: max(0, MAX_WARNINGS - have)]:
        others = [i for i, r in enumerate(chosen) if r[1].memory.kind != "correction"]
        if not others:
            break
        chosen[others[-1]] = warning
    return sorted(chosen, key=lambda r: (-r[0], r[1].memory.id))


def _line(c: MemoryCandidate) -> str:
    m = c.memory
    if m.kind == "correction":
        avoid = f" (avoid: {', '.join(m.avoid)})" if m.avoid else ""
        verdict = "rejected" if m.success is False else "commented on"
        return f'- Warning: a person {verdict} similar code: "{m.content}"{avoid}'
    if m.kind == "fix":
        return f"- Fixed before ({m.signature or 'a failure'}): {m.content}"
    if m.kind == "solution":
        return f"- Solved before ({m.language or 'any language'}): {m.content}"
    return f"- {m.content}"


def _fit_budget(
    chosen: list[tuple[float, MemoryCandidate, dict[str, float]]], budget: int, model: str | None
) -> tuple[list[str], int, str, list[int]]:
    """Lines for the chosen memories, best first, each cut to its share of the budget by the
    estimate (engine/memory/tokens.py); the same line from several memories is written once
    with their count. The whole is then counted with the tokenizer (once: a count costs
    milliseconds), and whole lines are dropped from the end while it is over. Returns the
    lines, their tokens, how they were counted and which of `chosen` they show."""
    if not chosen:
        return [], 0, "estimate", []
    share = int((budget / len(chosen) - 2) * CHARS_PER_TOKEN)  # room for the line breaks
    shown: dict[str, list[int]] = {}  # line -> the chosen memories it shows, in order
    for i, (_, c, _f) in enumerate(chosen):
        line = _line(c)
        if len(line) > share:
            line = line[: share - 2].rstrip() + " …"
        shown.setdefault(line, []).append(i)
    order = list(shown)

    def text(n: int) -> str:
        return "\n".join(
            f"{line} (×{len(shown[line])})" if len(shown[line]) > 1 else line for line in order[:n]
        )

    n = len(order)
    total, counted = count_tokens(text(n), model)
    while n and total > budget:
        n -= 1
        total, counted = count_tokens(text(n), model)
    kept = sorted(i for line in order[:n] for i in shown[line])
    return text(n).split("\n") if n else [], total, counted, kept


def _result(
    chosen: list[tuple[float, MemoryCandidate, dict[str, float]]],
    lines: list[str],
    evidence: dict[str, Any],
    began: float,
) -> dict[str, Any]:
    evidence.setdefault("ms", {})["total"] = round((time.perf_counter() - began) * 1000, 1)
    memories = [
        {
            "id": c.memory.id,
            "kind": c.memory.kind,
            "scope": c.memory.scope,
            "score": round(score, 4),
            "features": f,
            "pattern": c.memory.pattern,
            "model_group": c.memory.model_group,
            "success": c.memory.success,
            "run_id": c.memory.run_id,
        }
        for score, c, f in chosen
    ]
    avoid = sorted(
        {name for _, c, _f in chosen if c.memory.kind == "correction" for name in c.memory.avoid}
    )
    return {
        "choice": "recalled" if memories else "nothing",
        "summary": "\n".join(lines),
        "memories": memories,
        "avoid": avoid,
        "corrections": sum(1 for m in memories if m["kind"] == "correction"),
        "similar_successes": sum(
            1 for m in memories if m["kind"] == "solution" and m["success"] is True
        ),
        "similar_failures": sum(1 for m in memories if m["kind"] == "fix"),
        "evidence": {**evidence, "rule": f"{len(memories)} memory(ies) recalled"},
        "confidence": memories[0]["score"] if memories else 0.0,
    }
