"""Memories: what earlier runs and people taught, kept so a later run can recall it.

A memory is one thing worth telling a model or a decision before it acts: a request that was
solved (and how), a failure and the change that fixed it, a person's correction or rejection
(with what they objected to), or the outcome of a pattern on a request. Each carries where it
applies — language, framework, project, user — and its scope is the narrowest of those that is
set (`universal` when none is). The knowledge stores keep memories and answer stage 1 of recall
(`KnowledgeStore.memory_candidates`): a wide net of candidates under hard filters, found by
full-text search and, when memories carry embeddings, by vector similarity, the two lists fused
by reciprocal rank (`rrf`). Ranking the candidates and choosing what fits a prompt is the
engine's (engine/memory/).

Hard filters, identical in every store: a memory's language is the query's or empty (any
language); its project is the query's or empty; its user is the query's or empty; its kind is
one of the query's kinds (all kinds when the query names none).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field, field_validator

MemoryKind = Literal["solution", "fix", "correction", "outcome"]
MEMORY_KINDS: tuple[MemoryKind, ...] = ("solution", "fix", "correction", "outcome")
SCOPES = ("universal", "language", "framework", "project", "user")  # widest first
RRF_K = 60  # reciprocal rank fusion: a candidate at rank r (from 1) in a list scores 1 / (K + r)
MAX_CANDIDATES = 500  # the most candidates one query may ask for
MAX_TEXT = 2000  # characters of `text` kept (what queries match against)
MAX_CONTENT = 1000  # characters of `content` kept (what a prompt shows)


def _now() -> datetime:
    return datetime.now(UTC)


class Memory(BaseModel):
    """One memory. `id` is stable for the same fact (writing it again replaces it).

    `text` is what queries match (the request, with the failure for a fix); `content` is what a
    prompt shows. `success`: the run passed (solution, outcome), the fix helped (fix), None for
    a correction. `avoid`: names in the code a person objected to (a correction), used to spot
    code that repeats the mistake."""

    id: str = Field(min_length=1, max_length=200)
    kind: MemoryKind
    text: str
    content: str = ""
    language: str = ""
    framework: str = ""
    project: str = ""
    user: str = ""
    pattern: str = ""
    task_type: str = ""
    model_group: str = ""
    signature: str = ""
    run_id: str = ""
    success: bool | None = None
    avoid: list[str] = Field(default_factory=list)
    embedding: list[float] | None = None
    at: datetime = Field(default_factory=_now)

    @field_validator("text")
    @classmethod
    def _cut_text(cls, value: str) -> str:
        return value.replace("\x00", "")[:MAX_TEXT]

    @field_validator("content")
    @classmethod
    def _cut_content(cls, value: str) -> str:
        return value.replace("\x00", "")[:MAX_CONTENT]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def scope(self) -> str:
        """The narrowest level this memory is bound to (see SCOPES)."""
        for level, value in (
            ("user", self.user),
            ("project", self.project),
            ("framework", self.framework),
            ("language", self.language),
        ):
            if value:
                return level
        return "universal"


class MemoryQuery(BaseModel):
    """Stage 1 of recall: what to look for and the hard filters (see the module docstring)."""

    text: str
    language: str
    embedding: list[float] | None = None
    project: str = ""
    user: str = ""
    kinds: list[MemoryKind] = Field(default_factory=list)
    limit: int = Field(150, ge=1, le=MAX_CANDIDATES)


class MemoryCandidate(BaseModel):
    """A memory found by stage 1, without its embedding.

    `lexical` is the store's full-text score (higher is better; None when the text search did
    not find it), `similarity` the cosine similarity of the embeddings (None when the vector
    search did not find it or there are no embeddings), `rrf` the fused score. `recalled` and
    `helped` count how often it was recalled before and how often the run that recalled it
    then passed."""

    memory: Memory
    lexical: float | None = None
    similarity: float | None = None
    rrf: float = 0.0
    recalled: int = 0
    helped: int = 0


class FixPath(BaseModel):
    """Failure → fix → outcome, per failure signature and model group: how many improve
    iterations on code with this failure were tried, and how many of them fixed it."""

    signature: str
    model_group: str = ""
    tried: int
    fixed: int


def rrf_fuse(*ranked: list[str], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of ranked id lists (best first): id → sum of 1 / (k + rank)."""
    scores: dict[str, float] = {}
    for ids in ranked:
        for rank, key in enumerate(ids, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return scores
