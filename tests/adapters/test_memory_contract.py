"""Memories and the other newer parts of the learning contract, on every store's real server.

The stores are shared for the whole session, so each test works under words, projects and
signatures of its own (`_word`, `_tag`): another test's memories never match its queries
lexically, and the vector tests use random directions that no other memory comes near.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.database import create_engine
from adapters.learning import (
    CandidateOutcome,
    FailureFix,
    FixPath,
    LearningUnavailable,
    Memory,
    MemoryCandidate,
    MemoryQuery,
)
from adapters.learning.memory import RRF_K
from adapters.learning.postgres import PostgresLearningStore
from bench.serving import free_port

DIMS = 8  # the test embeddings: small hand-made vectors


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _word() -> str:
    """A unique word of letters only (every full-text analyzer keeps it one token)."""
    return "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:12])


def _mem(id_: str, text: str, **fields: Any) -> Memory:
    return Memory(id=id_, kind=fields.pop("kind", "solution"), text=text, **fields)


def _direction(rng: random.Random) -> list[float]:
    """A random unit vector: far (in cosine) from every other test's vectors."""
    v = [rng.gauss(0.0, 1.0) for _ in range(DIMS)]
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _ids(found: list[MemoryCandidate]) -> list[str]:
    return [c.memory.id for c in found]


def _assert_sorted(found: list[MemoryCandidate]) -> None:
    keys = [(-c.rrf, c.memory.id) for c in found]
    assert keys == sorted(keys)


async def test_memories_are_found_by_their_text(knowledge_store: Any) -> None:
    word, other, tag = _word(), _word(), _tag()
    at = datetime(2025, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
    where = {"language": "python", "framework": "fastapi", "pattern": "standard"}
    how = {"task_type": "endpoint", "model_group": "coder", "run_id": f"r-{tag}"}
    text = f"add pagination to the {word} endpoint"
    solved = _mem(f"s-{tag}", text, content="keyset", success=True, at=at, **where, **how)
    fixed = _mem(
        f"f-{tag}",
        f"{word} fails with {other}",
        kind="fix",
        content='quote " and } {',
        signature="tests.failed:x",
        success=False,
        avoid=["legacy_paginate", "OFFSET"],
        at=at,
    )
    unrelated = _mem(f"u-{tag}", f"something about {_word()}", at=at)
    await knowledge_store.record_memories([solved, fixed, unrelated])
    await knowledge_store.flush()
    # punctuation and query syntax in the request are only text
    text = f"fix: {word}() & 'off-by-one' | !! <{other}> \"quoted\" :* -x"
    found = await knowledge_store.memory_candidates(MemoryQuery(text=text, language="python"))
    assert set(_ids(found)) == {solved.id, fixed.id}
    _assert_sorted(found)
    assert found[0].memory.id == fixed.id  # it matches both words
    for cand in found:
        original = solved if cand.memory.id == solved.id else fixed
        assert cand.memory.model_dump(exclude={"at"}) == original.model_dump(exclude={"at"})
        assert abs(cand.memory.at - at) < timedelta(milliseconds=1)
        assert cand.memory.embedding is None
        assert cand.lexical is not None and cand.lexical > 0
        assert cand.similarity is None
        assert cand.rrf > 0
        assert (cand.recalled, cand.helped) == (0, 0)
    assert found[0].rrf == pytest.approx(1 / (RRF_K + 1))
    assert found[1].rrf == pytest.approx(1 / (RRF_K + 2))
    # nothing to search for: no candidates, no error
    for empty in ("", "   ", "a i ? !", "the and of"):
        assert await knowledge_store.memory_candidates(MemoryQuery(text=empty, language="")) == []
    assert knowledge_store.health().dropped == 0


async def test_hard_filters(knowledge_store: Any) -> None:
    word, tag = _word(), _tag()
    memories = {
        "any": _mem(f"any-{tag}", word),
        "py": _mem(f"py-{tag}", word, language="python", framework="django"),
        "go": _mem(f"go-{tag}", word, language="go"),
        "proj": _mem(f"proj-{tag}", word, language="python", project=f"p-{tag}"),
        "other-proj": _mem(f"oproj-{tag}", word, project=f"q-{tag}"),
        "user": _mem(f"user-{tag}", word, user=f"u-{tag}"),
        "both": _mem(f"both-{tag}", word, project=f"p-{tag}", user=f"u-{tag}"),
        "fix": _mem(f"fix-{tag}", word, kind="fix", language="python"),
        "correction": _mem(f"corr-{tag}", word, kind="correction"),
    }
    await knowledge_store.record_memories(list(memories.values()))
    await knowledge_store.flush()

    async def found(**query: Any) -> str:
        """The names of the memories found, sorted, joined by spaces."""
        cands = await knowledge_store.memory_candidates(MemoryQuery(text=word, **query))
        names = {m.id: name for name, m in memories.items()}
        return " ".join(sorted(names[c.memory.id] for c in cands))

    # a memory's empty language, project or user matches any query's; a query's empty
    # project or user matches only memories without one
    assert await found(language="python") == "any correction fix py"
    assert await found(language="go") == "any correction go"
    assert await found(language="") == "any correction"
    assert await found(language="python", project=f"p-{tag}") == "any correction fix proj py"
    assert await found(language="rust", user=f"u-{tag}") == "any correction user"
    both = await found(language="rust", project=f"p-{tag}", user=f"u-{tag}")
    assert both == "any both correction user"
    assert await found(language="python", kinds=["fix"]) == "fix"
    assert await found(language="python", kinds=["fix", "correction"]) == "correction fix"
    assert await found(language="go", kinds=["outcome"]) == ""
    # every candidate carries its scope
    cands = await knowledge_store.memory_candidates(
        MemoryQuery(text=word, language="python", project=f"p-{tag}")
    )
    scopes = {c.memory.id: c.memory.scope for c in cands}
    assert scopes[memories["proj"].id] == "project"
    assert scopes[memories["py"].id] == "framework"
    assert scopes[memories["any"].id] == "universal"


async def test_hard_filters_take_any_value(knowledge_store: Any) -> None:
    word, tag = _word(), _tag()
    odd = f"""{tag} it's a "b\\c" & | ! :* <-> ( ) =x 名前 {"long" * 200}"""
    mine = _mem(f"odd-{tag}", word, language=odd, project=odd, user=odd)
    prefix = _mem(f"prefix-{tag}", word, language=odd[:-1], project=odd, user=odd)
    await knowledge_store.record_memories([mine, prefix])
    await knowledge_store.flush()
    query = MemoryQuery(text=word, language=odd, project=odd, user=odd)
    assert _ids(await knowledge_store.memory_candidates(query)) == [mine.id]
    assert knowledge_store.health().dropped == 0


async def test_recording_again_keeps_recall_counts(knowledge_store: Any) -> None:
    word, tag = _word(), _tag()
    first = _mem(f"m-{tag}", f"{word} first", content="old advice", language="python")
    await knowledge_store.record_memories([first])
    await knowledge_store.flush()
    await knowledge_store.record_recall([first.id], True)
    await knowledge_store.record_recall([first.id], False)
    await knowledge_store.flush()
    again = _mem(first.id, f"{word} second", content="new advice", language="python", success=True)
    await knowledge_store.record_memories([again])
    await knowledge_store.flush()
    [cand] = await knowledge_store.memory_candidates(MemoryQuery(text=word, language="python"))
    assert cand.memory.content == "new advice" and cand.memory.text == f"{word} second"
    assert cand.memory.success is True
    assert (cand.recalled, cand.helped) == (2, 1)
    # the replaced text is no longer searchable
    await knowledge_store.record_memories([_mem(first.id, f"{_word()} third", language="python")])
    await knowledge_store.flush()
    assert await knowledge_store.memory_candidates(MemoryQuery(text=word, language="python")) == []


async def test_record_recall_counts(knowledge_store: Any) -> None:
    word, tag = _word(), _tag()
    a, b = _mem(f"a-{tag}", word), _mem(f"b-{tag}", word)
    await knowledge_store.record_memories([a, b])
    await knowledge_store.flush()
    await knowledge_store.record_recall([a.id, b.id], True)
    await knowledge_store.record_recall([a.id], False)
    await knowledge_store.record_recall([a.id, f"unknown-{tag}"], True)  # unknown: ignored
    await knowledge_store.record_recall([], True)
    await knowledge_store.flush()
    found = await knowledge_store.memory_candidates(MemoryQuery(text=word, language=""))
    counts = {c.memory.id: (c.recalled, c.helped) for c in found}
    assert counts == {a.id: (3, 2), b.id: (1, 1)}
    assert knowledge_store.health().dropped == 0


async def test_vector_search_finds_memories_without_words_in_common(knowledge_store: Any) -> None:
    word, tag = _word(), _tag()
    rng = random.Random(tag)
    q = _direction(rng)
    near = [x + rng.gauss(0.0, 0.05) for x in q]
    # no word in common with the query; only the embedding brings it
    close = _mem(f"close-{tag}", f"{_word()} {_word()}", embedding=near, project=f"p-{tag}")
    # an embedding of other dimensions is never compared with the query's
    other_dims = _mem(f"dims-{tag}", _word(), embedding=q[:4], project=f"p-{tag}")
    # outside the hard filters however close it is
    filtered = _mem(f"go-{tag}", _word(), embedding=q, language="go", project=f"p-{tag}")
    await knowledge_store.record_memories([close, other_dims, filtered])
    await knowledge_store.flush()
    query = MemoryQuery(text=word, language="python", project=f"p-{tag}", embedding=q)
    found = await knowledge_store.memory_candidates(query)
    ours = [c for c in found if c.memory.id.endswith(tag)]
    assert _ids(ours) == [close.id]
    [cand] = ours
    assert cand.lexical is None
    assert cand.similarity == pytest.approx(_cosine(q, near), abs=1e-4)
    assert cand.rrf == pytest.approx(1 / (RRF_K + 1))
    assert cand.memory.embedding is None
    _assert_sorted(found)
    # without an embedding in the query, only the text is searched
    plain = MemoryQuery(text=word, language="python", project=f"p-{tag}")
    assert await knowledge_store.memory_candidates(plain) == []
    # a query whose embedding has other dimensions finds the memories of those dimensions
    four = await knowledge_store.memory_candidates(
        MemoryQuery(text=word, language="python", project=f"p-{tag}", embedding=q[:4])
    )
    assert [c.memory.id for c in four if c.memory.id.endswith(tag)] == [other_dims.id]


async def test_rrf_fuses_text_and_vector_ranks(knowledge_store: Any) -> None:
    word, second, tag = _word(), _word(), _tag()
    rng = random.Random(tag)
    q = _direction(rng)
    scope = {"language": "python", "project": f"p-{tag}"}
    # both searches find it: first by text (both words), second by vector
    near = [x + rng.gauss(0.0, 0.1) for x in q]
    both = _mem(f"both-{tag}", f"{word} {second}", embedding=near, **scope)
    vector_only = _mem(f"vec-{tag}", _word(), embedding=q, **scope)  # first by vector
    text_only = _mem(f"text-{tag}", f"{word} {_word()}", **scope)  # second by text
    await knowledge_store.record_memories([text_only, vector_only, both])
    await knowledge_store.flush()
    found = await knowledge_store.memory_candidates(
        MemoryQuery(text=f"{word} {second}", embedding=q, **scope)
    )
    ours = [c for c in found if c.memory.id.endswith(tag)]
    assert _ids(ours) == [both.id, vector_only.id, text_only.id]
    by_id = {c.memory.id: c for c in ours}
    assert by_id[both.id].rrf == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert by_id[vector_only.id].rrf == pytest.approx(1 / (RRF_K + 1))
    assert by_id[text_only.id].rrf == pytest.approx(1 / (RRF_K + 2))
    assert by_id[both.id].lexical is not None and by_id[both.id].similarity is not None
    assert by_id[vector_only.id].lexical is None
    assert by_id[vector_only.id].similarity == pytest.approx(1.0, abs=1e-4)
    assert by_id[text_only.id].similarity is None
    assert by_id[both.id].lexical > by_id[text_only.id].lexical
    _assert_sorted(found)


async def test_limit_is_respected(knowledge_store: Any) -> None:
    words, tag = [_word() for _ in range(5)], _tag()
    # memory i holds the first i + 1 query words
    memories = [_mem(f"m{i}-{tag}", " ".join(words[: i + 1])) for i in range(5)]
    await knowledge_store.record_memories(memories)
    await knowledge_store.flush()
    query = MemoryQuery(text=" ".join(words), language="", limit=3)
    found = await knowledge_store.memory_candidates(query)
    assert len(found) == 3
    assert set(_ids(found)) <= {m.id for m in memories}
    assert memories[4].id in _ids(found)
    _assert_sorted(found)
    assert len(await knowledge_store.memory_candidates(query.model_copy(update={"limit": 5}))) == 5


async def test_count_memories(knowledge_store: Any) -> None:
    tag = _tag()
    before = await knowledge_store.count_memories()
    items = [_mem(f"c{i}-{tag}", _word()) for i in range(3)]
    await knowledge_store.record_memories(items)
    await knowledge_store.record_memories([items[0].model_copy(update={"content": "again"})])
    await knowledge_store.record_memories([])
    await knowledge_store.flush()
    assert await knowledge_store.count_memories() == before + 3


async def test_fix_paths_per_signature_and_model_group(knowledge_store: Any) -> None:
    tag = _tag()
    sig_a, sig_b = f"a-ruff.F821:{tag}", f"b-tests.failed:{tag}"

    def fix(signature: str, model_group: str, fix: str, language: str = "python") -> FailureFix:
        item = {"signature": signature, "fix": fix, "model_group": model_group}
        return FailureFix(run_id=_tag(), language=language, **item)

    for item in [
        fix(sig_a, "coder", "import the name"),
        fix(sig_a, "coder", ""),
        fix(sig_a, "coder", "import it again"),
        fix(sig_a, "coder-b", "define it"),
        fix(sig_b, "", ""),
        fix(sig_a, "coder", "a Go fix", language="go"),
    ]:
        await knowledge_store.record_failure_fix(item)
    await knowledge_store.flush()
    assert await knowledge_store.fix_paths([sig_b, sig_a, f"c-{tag}"], "python") == [
        FixPath(signature=sig_a, model_group="coder", tried=3, fixed=2),
        FixPath(signature=sig_a, model_group="coder-b", tried=1, fixed=1),
        FixPath(signature=sig_b, model_group="", tried=1, fixed=0),
    ]
    assert await knowledge_store.fix_paths([sig_a], "go") == [
        FixPath(signature=sig_a, model_group="coder", tried=1, fixed=1)
    ]
    assert await knowledge_store.fix_paths([], "python") == []
    # the model group travels with the fix
    [latest] = await knowledge_store.fixes_for([sig_a], "python", limit=1)
    assert latest.model_group in {"coder", "coder-b"}


@pytest.fixture(params=["postgres", "neo4j"])
async def unreachable_knowledge_store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A knowledge store whose server is not there (nothing listens on the port)."""
    port = free_port()
    if request.param == "postgres":
        db = create_engine(f"postgresql://weavergen@127.0.0.1:{port}/nowhere", pool_size=1)
        yield PostgresLearningStore(db)
        await db.dispose()
        return
    from adapters.learning.neo4j import Neo4jKnowledgeStore

    uri = f"bolt://127.0.0.1:{port}"
    store = Neo4jKnowledgeStore(uri, connect_timeout=1.0, query_timeout=2.0, flush_timeout=1.0)
    yield store
    await store.close()


async def test_memory_queries_raise_learning_unavailable(unreachable_knowledge_store: Any) -> None:
    store = unreachable_knowledge_store
    with pytest.raises(LearningUnavailable):
        await store.memory_candidates(MemoryQuery(text="paginate", language="python"))
    with pytest.raises(LearningUnavailable):
        await store.memory_candidates(
            MemoryQuery(text="paginate", language="python", embedding=[1.0] * DIMS)
        )
    with pytest.raises(LearningUnavailable):
        await store.count_memories()
    with pytest.raises(LearningUnavailable):
        await store.fix_paths(["tests.failed:x"], "python")
    # writing never raises: the memories are buffered or counted as lost
    await store.record_memories([_mem("lost-1", "a"), _mem("lost-2", "b")])
    await store.record_recall(["lost-1"], True)
    await store.flush()
    health = store.health()
    assert not health.healthy and health.buffered + health.dropped >= 2


# after every other test's candidates (prediction_samples has no filter but `since`), and
# before 2262, where InfluxDB's nanosecond timestamps end. The candidates carry no prediction,
# so the `prediction_pairs` tests (also without an upper bound) never see them.
SAMPLES_START = datetime(2250, 1, 1, tzinfo=UTC)


async def test_prediction_samples_since_oldest_first_with_features(outcome_store: Any) -> None:
    tag = _tag()
    start = SAMPLES_START + timedelta(hours=random.randrange(25_000))
    minute = timedelta(minutes=1)
    candidates: list[tuple[datetime, dict[str, float], bool]] = [
        (start - timedelta(microseconds=1), {"prior": 0.5}, True),  # before `since`
        (start, {"prior": 0.25, "agreement": 1.0}, False),  # exactly at `since`
        (start + minute, {}, True),  # no features
        (start + 2 * minute, {"prior": 0.7333333333333333, "tokens": 1234.0}, True),
        (start + 3 * minute, {"prior": 1e-9}, False),
    ]
    in_order = list(candidates)
    random.Random(7).shuffle(candidates)
    for i, (at, features, passed) in enumerate(candidates):
        record = {"run_id": f"s{i}-{tag}", "task_id": "t", "model_group": f"{tag}-g"}
        await outcome_store.record_candidate(
            CandidateOutcome(**record, language="python", passed=passed, features=features, at=at)
        )
    await outcome_store.flush()
    samples = [in_order[i][1:] for i in (1, 3, 4)]  # since `start`, with features
    got = await outcome_store.prediction_samples(start)
    assert got == samples
    assert all(
        type(ok) is bool and all(type(v) is float for v in features.values())
        for features, ok in got
    )
    earlier = await outcome_store.prediction_samples(start - timedelta(microseconds=1))
    assert earlier == [({"prior": 0.5}, True), *samples]
    assert await outcome_store.prediction_samples(start + 4 * minute) == []
    assert outcome_store.health().dropped == 0
