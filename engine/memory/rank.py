"""Stage 2 of recall: rank the candidates stage 1 found.

Features of a candidate for a query (all in [0, 1]):
    similarity  the cosine similarity of the memory's and the query's embeddings; for a memory
                only the full-text search found, the lowest similarity among those the vector
                search found (its own is at most that); 0 when the query has no embedding
    lexical     the full-text score / the best full-text score of this query (relative)
    overlap     the query's words the memory's text holds, each weighed by its rarity among
                the candidates (log(1 + n / df), n candidates, df of them holding the word;
                request boilerplate and English function words left out: `STOP_WORDS`), over
                the best of this query — the store's full-text rank does not weigh rarity,
                and at 100k memories that decides
    relevance   the gate (not weighed, see `relevant`): the similarity when the vector search
                found the memory, an absolute measure; else the lexical score
    fused       rrf / best rrf of this query (agreement of the two searches)
    recency     exp(-age / RECENCY_DAYS)
    success     1 a success (solved run, fix that helped), 0 a failure, 0.5 unknown;
                a correction counts 1: a person's warning is always worth reading
    helped      (helped + 1) / (recalled + 2): did runs that recalled it pass
    scope       how specific the match is: user 1.0, project 0.8, framework 0.6, language 0.4,
                universal 0.2 (a memory bound to the query's own project beats a general one)
    signature   1 when the memory is about one of the query's failure signatures
    kind        fit of the kind to the purpose: before a first attempt solutions and
                corrections 1, fixes 0.5, outcomes 0; before an improvement fixes and
                corrections 1, solutions 0.5, outcomes 0

Until a ranker is fitted the score is the documented formula `FALLBACK_WEIGHTS` (a weighted
sum; relevance dominates). `Ranker.fit` learns a logistic regression (scikit-learn) from past
recalls: the features of each recalled memory and whether the run that recalled it passed;
it replaces the formula once it has `MIN_SAMPLES` samples of both outcomes, and its score is
the predicted probability times the closeness of the texts (a fitted model must not promote
an unrelated memory only because memories like it helped).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.learning import MemoryCandidate

FEATURES = (
    "similarity",
    "lexical",
    "overlap",
    "fused",
    "recency",
    "success",
    "helped",
    "scope",
    "signature",
    "kind",
)
# the rare words a memory shares with the query say most about whether it is the same
# problem; the embedding adds meaning beyond the words. Measured with `python -m bench
# memory` (precision@5 at 100k memories): the stand-in's embeddings alone 0.68, the store's
# full-text rank alone 0.75, fused by rank 0.77, these weights 0.86.
FALLBACK_WEIGHTS = {
    "similarity": 0.10,
    "lexical": 0.20,
    "overlap": 0.60,
    "fused": 0.0,
    "recency": 0.05,
    "success": 0.05,
    "helped": 0.05,
    "scope": 0.01,  # tie-breakers until a ranker is fitted: measured, a larger weight on
    "signature": 0.25,
    "kind": 0.01,  # either sent other problems' memories ahead of the query's own
}
RECENCY_DAYS = 30.0
# below this relevance a memory is not about the request (unless it is about one of its
# failures): with embeddings an absolute cosine (the stand-in's: paraphrases 0.4-0.9,
# requests sharing a word or two 0.1-0.4, unrelated near 0), without them relative
MIN_SIMILARITY = 0.3
MIN_LEXICAL = 0.05  # without embeddings: anything the full-text search found
MIN_LEXICAL_ONLY = 0.5  # with embeddings, a memory only the full-text search found
MIN_SAMPLES = 200
SCOPE_WEIGHT = {"user": 1.0, "project": 0.8, "framework": 0.6, "language": 0.4, "universal": 0.2}
_WORD = re.compile(r"[a-z0-9]+")
# English function words, request boilerplate and language names: they say nothing about
# which problem a request is about
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "and",
        "or",
        "is",
        "are",
        "for",
        "that",
        "this",
        "with",
        "be",
        "it",
        "as",
        "by",
        "on",
        "at",
        "from",
        "you",
        "your",
        "me",
        "i",
        "my",
        "we",
        "can",
        "could",
        "would",
        "should",
        "will",
        "do",
        "does",
        "how",
        "what",
        "which",
        "something",
        "please",
        "help",
        "need",
        "want",
        "give",
        "make",
        "write",
        "create",
        "implement",
        "code",
        "function",
        "program",
        "python",
        "javascript",
        "go",
        "up",
    }
)
KIND_FIT = {
    "first": {"solution": 1.0, "correction": 1.0, "fix": 0.5, "outcome": 0.0},
    "improve": {"fix": 1.0, "correction": 1.0, "solution": 0.5, "outcome": 0.0},
}


@dataclass(frozen=True)
class QueryContext:
    """What stage 2 needs to know about the query besides its text."""

    purpose: str  # "first" or "improve"
    text: str = ""  # the query's text
    signatures: frozenset[str] = frozenset()
    embedded: bool = False  # the query has an embedding (relevance is a cosine similarity)
    framework: str = ""
    project: str = ""
    user: str = ""


def features(
    cands: list[MemoryCandidate], ctx: QueryContext, now: datetime | None = None
) -> list[dict[str, float]]:
    """The features of each candidate (see the module docstring), in order."""
    now = now or datetime.now(UTC)
    best_lex = max((c.lexical or 0.0 for c in cands), default=0.0) or 1.0
    best_rrf = max((c.rrf for c in cands), default=0.0) or 1.0
    fit = KIND_FIT.get(ctx.purpose, KIND_FIT["first"])
    overlap = _overlap(ctx.text, [c.memory.text for c in cands])
    known = [c.similarity for c in cands if c.similarity is not None]
    floor = max(0.0, min(known)) if known else 0.0
    out = []
    for c, shared in zip(cands, overlap, strict=True):
        m = c.memory
        at = m.at if m.at.tzinfo else m.at.replace(tzinfo=UTC)
        age_days = max(0.0, (now - at).total_seconds() / 86400)
        lexical = (c.lexical or 0.0) / best_lex
        found = c.similarity is not None
        similarity = max(0.0, c.similarity) if c.similarity is not None else floor
        success = 1.0 if m.kind == "correction" else {True: 1.0, False: 0.0}.get(m.success, 0.5)  # type: ignore[arg-type]
        out.append(
            {
                "relevance": round(similarity if ctx.embedded and found else lexical, 4),
                "vector": 1.0 if found else 0.0,
                "similarity": round(similarity, 4),
                "lexical": round(lexical, 4),
                "overlap": round(shared, 4),
                "fused": round(c.rrf / best_rrf, 4),
                "recency": round(math.exp(-age_days / RECENCY_DAYS), 4),
                "success": success,
                "helped": round((c.helped + 1) / (c.recalled + 2), 4),
                "scope": _scope(m.scope, m, ctx),
                "signature": 1.0 if m.signature and m.signature in ctx.signatures else 0.0,
                "kind": fit.get(m.kind, 0.0),
            }
        )
    return out


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if w not in STOP_WORDS}


def _overlap(query: str, texts: list[str]) -> list[float]:
    """The `overlap` feature of each text (see the module docstring)."""
    wanted = _words(query)
    held = [_words(t) & wanted for t in texts]
    df: dict[str, int] = {}
    for words in held:
        for w in words:
            df[w] = df.get(w, 0) + 1
    n = len(texts)
    raw = [sum(math.log(1 + n / df[w]) for w in words) for words in held]
    best = max(raw, default=0.0) or 1.0
    return [r / best for r in raw]


def _scope(scope: str, m: Any, ctx: QueryContext) -> float:
    if scope == "framework" and ctx.framework and m.framework != ctx.framework:
        return SCOPE_WEIGHT["language"] / 2  # another framework's habit: less likely to apply
    return SCOPE_WEIGHT.get(scope, 0.2)


def relevant(f: dict[str, float], ctx: QueryContext) -> bool:
    """Whether a candidate is about the request at all (see MIN_SIMILARITY)."""
    if f["signature"] > 0:
        return True
    if not ctx.embedded:
        return f["relevance"] >= MIN_LEXICAL
    if f["vector"]:
        return f["relevance"] >= MIN_SIMILARITY
    return f["relevance"] >= MIN_LEXICAL_ONLY


def fallback_score(f: dict[str, float]) -> float:
    """The documented formula: a weighted sum of the features."""
    return sum(FALLBACK_WEIGHTS[name] * f[name] for name in FEATURES)


class Ranker:
    """The stage-2 scorer: the fallback formula until `fit` has enough data, then a logistic
    regression. Thread-safe: a refit swaps the model in one assignment."""

    def __init__(self) -> None:
        self._model: Any = None
        self._samples = 0
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        if self._model is None:
            return f"formula (fewer than {MIN_SAMPLES} recall outcomes to fit from)"
        return f"fitted logistic regression on {self._samples} recall outcomes"

    def score(self, f: dict[str, float]) -> float:
        model = self._model
        if model is None:
            return fallback_score(f)
        p = float(model.predict_proba([[f[name] for name in FEATURES]])[0][1])
        relevance = 0.6 * f["overlap"] + 0.25 * f["lexical"] + 0.15 * f["similarity"]
        return p * relevance + 0.25 * f["signature"] + 0.05 * f["kind"]

    def fit(self, samples: list[tuple[dict[str, float], bool]]) -> bool:
        """Fit from (features, the run passed) pairs; False (formula kept) when there are
        fewer than MIN_SAMPLES or only one outcome."""
        labels = [y for _, y in samples]
        if len(samples) < MIN_SAMPLES or all(labels) or not any(labels):
            return False
        from sklearn.linear_model import LogisticRegression

        x = [[f.get(name, 0.0) for name in FEATURES] for f, _ in samples]
        model = LogisticRegression(C=1.0, max_iter=500).fit(x, labels)
        with self._lock:
            self._model, self._samples = model, len(samples)
        return True


RANKER = Ranker()
