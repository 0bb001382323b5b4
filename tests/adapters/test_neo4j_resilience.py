"""The Neo4j knowledge store against a real Neo4j 5.26 (embedded launcher, tools/neo4j): exact
round trips, its schema, parameterized values, and what happens while the server is down,
frozen, or rejects a record. One server for the module; one test stops and restarts it."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from neo4j import AsyncGraphDatabase

from adapters.learning import (
    Correction,
    FailureFix,
    LearningUnavailable,
    Memory,
    MemoryQuery,
    RunOutcome,
    neo4j_memory,
)
from adapters.learning.neo4j import Neo4jKnowledgeStore
from tests.neo4j_server import Neo4jServer


def _tag() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def server() -> Iterator[Neo4jServer]:
    s = Neo4jServer()  # its own temporary home, removed by close()
    s.start()
    yield s
    s.close()


@pytest.fixture
async def store(server: Neo4jServer) -> AsyncIterator[Neo4jKnowledgeStore]:
    if not server.running:  # a failed test may have left it stopped
        server.start()
    s = Neo4jKnowledgeStore(server.uri, password=server.password, flush_interval=0.2)
    yield s
    await s.close()


async def _cypher(server: Neo4jServer, query: str, **params: object) -> list[dict[str, object]]:
    async with AsyncGraphDatabase.driver(server.uri, auth=None) as driver:
        records, _, _ = await driver.execute_query(query, params)
        return [r.data() for r in records]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _fix(run_id: str, signature: str, fix: str, at: datetime, **kw: str) -> FailureFix:
    return FailureFix(
        run_id=run_id,
        request=kw.get("request", "add two numbers"),
        pattern=kw.get("pattern", "quick"),
        language=kw.get("language", "python"),
        signature=signature,
        fix=fix,
        at=at,
    )


async def test_writes_flush_and_queries_are_exact(
    store: Neo4jKnowledgeStore, server: Neo4jServer
) -> None:
    tag = _tag()
    t0 = datetime(2025, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    run_a, run_b = f"a-{tag}", f"b-{tag}"
    sig1, sig2 = f"ruff.F821:undefined name {tag}", f"tests.failed:{tag}"
    await store.record_run(
        RunOutcome(
            run_id=run_a,
            pattern="bug_fix",
            language="python",
            task_type="bug",
            success=True,
            duration_ms=1234.5,
            tokens_in=100,
            tokens_out=200,
            iterations=2,
            score=0.9,
            at=t0,
        ),
        "fix paginate",
    )
    fixes = [
        _fix(run_a, sig1, "import it", t0, request="fix paginate", pattern="bug_fix"),
        _fix(run_b, sig2, "off by one", t0 + timedelta(seconds=1)),
        _fix(run_b, sig1, "", t0 + timedelta(seconds=2)),  # seen, not resolved
        _fix(run_b, sig1, "a Go fix", t0 + timedelta(seconds=3), language="go"),
    ]
    for item in fixes:
        await store.record_failure_fix(item)
    corrections = [
        Correction(run_id=run_a, step="approve", approved=None, comment="why?", at=t0),
        Correction(run_id=run_a, step="approve", approved=False, comment="no", at=t0),
        Correction(
            run_id=run_a, step="approve", approved=True, comment="ok", at=t0 + timedelta(hours=1)
        ),
    ]
    for c in reversed(corrections[1:]):  # recorded out of time order
        await store.record_correction(c)
    await store.record_correction(corrections[0])
    await store.flush()

    health = store.health()
    assert (health.backend, health.healthy, health.buffered, health.dropped) == (
        "neo4j",
        True,
        0,
        0,
    )
    assert await store.fixes_for([sig1, sig2], "python") == [fixes[1], fixes[0]]
    assert await store.fixes_for([sig1, sig2], "python", limit=1) == [fixes[1]]
    assert await store.fixes_for([sig1], "go") == [fixes[3]]
    assert await store.fixes_for([f"unseen {tag}"], "python") == []
    assert await store.fixes_for([], "python") == []
    got = await store.corrections(run_a)
    # equal times keep the order they were recorded in
    assert got == [corrections[1], corrections[0], corrections[2]]
    assert await store.corrections(f"none-{tag}") == []

    [shape] = await _cypher(
        server,
        "MATCH (r:Run {id: $id}) "
        "RETURN r.success AS success, r.duration_ms AS ms, r.tokens_in AS tin, "
        "r.tokens_out AS tout, r.iterations AS it, r.score AS score, "
        "[(r)-[:FOR]->(q) | q.text] AS requests, [(r)-[:USED]->(p) | p.name] AS patterns, "
        "[(r)-[:OF_TYPE]->(t) | t.name] AS types, [(r)-[:IN]->(l) | l.name] AS languages, "
        "[(r)-[:HIT]->(s) | s.text] AS hits, "
        "[(r)-[:PRODUCED]->(f)-[:RESOLVES]->(s) | [f.summary, s.text]] AS fixes, "
        "size([(r)-[:CORRECTED]->(c:Correction) | c]) AS corrections",
        id=run_a,
    )
    assert shape == {
        "success": True,
        "ms": 1234.5,
        "tin": 100,
        "tout": 200,
        "it": 2,
        "score": 0.9,
        "requests": ["fix paginate"],
        "patterns": ["bug_fix"],
        "types": ["bug"],
        "languages": ["python"],
        "hits": [sig1],
        "fixes": [["import it", sig1]],
        "corrections": 3,
    }
    # the same request text is one Request node, shared by the runs asked it
    [shared] = await _cypher(
        server,
        "MATCH (q:Request {text: 'add two numbers'})<-[:FOR]-(r:Run) WHERE r.id = $b "
        "RETURN count(r) AS n",
        b=run_b,
    )
    assert shared == {"n": 1}


async def test_background_sender_delivers_without_flush(store: Neo4jKnowledgeStore) -> None:
    sig = f"sender {_tag()}"
    item = _fix(_tag(), sig, "found by the sender", datetime.now(UTC))
    await store.record_failure_fix(item)
    deadline = time.monotonic() + 10
    while store.health().buffered and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert store.health().buffered == 0
    assert await store.fixes_for([sig], "python") == [item]


async def test_constraints_exist(store: Neo4jKnowledgeStore, server: Neo4jServer) -> None:
    await store.fixes_for(["any"], "python")  # first use creates the schema
    rows = await _cypher(
        server, "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties RETURN *"
    )
    unique = {
        (r["labelsOrTypes"][0], r["properties"][0]) for r in rows if r["type"] == "UNIQUENESS"
    }
    assert unique >= {
        ("Run", "id"),
        ("Request", "id"),
        ("Pattern", "name"),
        ("TaskType", "name"),
        ("Language", "name"),
        ("FailureSignature", "id"),
        ("Fix", "id"),
        ("Correction", "id"),
    }
    indexes = await _cypher(server, "SHOW INDEXES YIELD name, state RETURN *")
    assert {"name": "wg_fix_language_at", "state": "ONLINE"} in indexes
    # a second store on the same database finds the schema there and says nothing
    again = Neo4jKnowledgeStore(server.uri)
    await again.fixes_for(["any"], "python")
    await again.close()


async def test_cypher_in_values_is_stored_verbatim(
    store: Neo4jKnowledgeStore, server: Neo4jServer
) -> None:
    tag = _tag()
    await _cypher(server, "MERGE (:Sentinel {tag: $tag})", tag=tag)
    hostile = (
        f"{tag} '\"}}) MATCH (n) DETACH DELETE n // `x` $rows {{a: 1}} \\' \n;"
        " CREATE (:Evil) RETURN 1 /* */"
    )
    run_id = f"{tag}'}})-[:X]->(n) //"
    item = _fix(run_id, hostile, hostile, datetime.now(UTC), request=hostile, pattern=hostile)
    await store.record_failure_fix(item)
    correction = Correction(run_id=run_id, step=hostile, approved=True, comment=hostile)
    await store.record_correction(correction)
    long_signature = f"{tag} " + "assert [1, 2, 3] == [" + "9, " * 7000 + "]"  # > 8 KB
    long_item = _fix(_tag(), long_signature, "compare the lists", datetime.now(UTC))
    await store.record_failure_fix(long_item)
    await store.flush()

    assert store.health().dropped == 0
    assert await store.fixes_for([hostile], "python") == [item]
    assert await store.corrections(run_id) == [correction]
    assert await store.fixes_for([long_signature], "python") == [long_item]
    assert await _cypher(server, "MATCH (s:Sentinel {tag: $tag}) RETURN s.tag AS t", tag=tag) == [
        {"t": tag}
    ]
    assert await _cypher(server, "MATCH (e:Evil) RETURN count(e) AS n") == [{"n": 0}]


async def test_server_down_buffers_then_delivers(
    store: Neo4jKnowledgeStore, server: Neo4jServer, caplog: pytest.LogCaptureFixture
) -> None:
    tag = _tag()
    await store.record_run(
        RunOutcome(run_id=f"warm-{tag}", pattern="quick", language="python", success=True), "w"
    )
    await store.flush()  # connected, schema made
    assert store.health().buffered == 0

    server.stop()
    try:
        start = datetime.now(UTC)
        sig = f"down {tag}"
        run_id = f"down-{tag}"
        latencies = []
        for i in range(10):
            calls = (
                store.record_run(
                    RunOutcome(
                        run_id=f"{run_id}-{i}",
                        pattern="quick",
                        language="python",
                        task_type=f"t-{tag}",
                        success=i % 2 == 0,
                    ),
                    "while down",
                ),
                store.record_failure_fix(
                    _fix(f"{run_id}-{i}", sig, f"fix {i}", start + timedelta(seconds=i))
                ),
                store.record_correction(
                    Correction(
                        run_id=run_id, step="s", comment=f"c{i}", at=start + timedelta(seconds=i)
                    )
                ),
            )
            for call in calls:
                t = time.perf_counter()
                await call
                latencies.append(time.perf_counter() - t)
        assert max(latencies) < 0.05, max(latencies)
        assert store.health().buffered == 30

        t = time.perf_counter()
        await store.flush()  # must not raise
        assert time.perf_counter() - t < store.flush_timeout + 1
        health = store.health()
        assert (health.healthy, health.buffered, health.dropped) == (False, 30, 0)
        assert health.last_error
        with pytest.raises(LearningUnavailable, match=server.uri):
            await store.fixes_for([sig], "python")
        with pytest.raises(LearningUnavailable, match=server.uri):
            await store.corrections(run_id)
        await asyncio.sleep(0.5)  # the sender tries, fails, backs off; nothing is lost
        assert store.health().buffered == 30
    finally:
        server.start()

    await store.flush()
    health = store.health()
    assert (health.healthy, health.buffered, health.dropped) == (True, 0, 0)
    found = await store.fixes_for([sig], "python", limit=100)
    assert [f.fix for f in found] == [f"fix {i}" for i in reversed(range(10))]
    assert [c.comment for c in await store.corrections(run_id)] == [f"c{i}" for i in range(10)]
    [runs] = await _cypher(
        server,
        "MATCH (r:Run)-[:OF_TYPE]->(:TaskType {name: $t}) "
        "RETURN count(r) AS n, sum(CASE WHEN r.success THEN 1 ELSE 0 END) AS ok",
        t=f"t-{tag}",
    )
    assert runs == {"n": 10, "ok": 5}
    assert "unavailable" in caplog.text


async def test_frozen_server_does_not_block(
    store: Neo4jKnowledgeStore, server: Neo4jServer
) -> None:
    """A server that accepts nothing (SIGSTOP): flush and queries give up within their time
    limits; a batch cut off mid-way is sent again without duplicates."""
    tag = _tag()
    sig = f"frozen {tag}"
    store.flush_timeout = store.query_timeout = store.send_timeout = 1.0
    await store.flush()
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        for i in range(5):
            t = time.perf_counter()
            await store.record_failure_fix(
                _fix(f"{tag}-{i}", sig, f"fix {i}", datetime.now(UTC) + timedelta(seconds=i))
            )
            assert time.perf_counter() - t < 0.05
        t = time.perf_counter()
        await store.flush()
        assert time.perf_counter() - t < 2.5
        assert store.health().buffered == 5
        t = time.perf_counter()
        with pytest.raises(LearningUnavailable, match=server.uri):
            await store.fixes_for([sig], "python")
        assert time.perf_counter() - t < 2.5
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    store.flush_timeout = store.query_timeout = store.send_timeout = 10.0
    await store.flush()
    assert store.health().buffered == 0
    found = await store.fixes_for([sig], "python", limit=100)
    assert [f.fix for f in found] == [f"fix {i}" for i in reversed(range(5))]


async def test_rejected_record_is_dropped_not_blocking(
    store: Neo4jKnowledgeStore, server: Neo4jServer
) -> None:
    """A record Neo4j itself refuses (a pattern name too long to index) is tried a few times,
    then dropped and counted; the records around it are stored."""
    tag = _tag()
    sig = f"poison {tag}"
    good = _fix(f"{tag}-1", sig, "good one", datetime.now(UTC))
    await store.record_failure_fix(good)
    await store.record_run(
        RunOutcome(run_id=f"{tag}-bad", pattern="p" * 10000, language="python", success=True)
    )
    later = _fix(f"{tag}-2", sig, "later one", datetime.now(UTC) + timedelta(seconds=1))
    await store.record_failure_fix(later)
    await store.flush()
    # the records around the bad one are stored at once; the bad one waits for another try
    assert await store.fixes_for([sig], "python") == [later, good]
    assert store.health().buffered + store.health().dropped == 1
    for _ in range(5):
        await store.flush()
        if not store.health().buffered:
            break
    health = store.health()
    assert (health.buffered, health.dropped) == (0, 1)
    assert await store.fixes_for([sig], "python") == [later, good]


async def test_tiny_buffer_overflow_drops_oldest_and_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Neo4jKnowledgeStore(f"bolt://127.0.0.1:{port}", buffer_size=5, flush_interval=60)
    caplog.set_level(logging.ERROR, logger="adapters.learning.neo4j")
    for i in range(8):
        t = time.perf_counter()
        await store.record_correction(Correction(run_id="r", step="s", comment=str(i)))
        assert time.perf_counter() - t < 0.05
    health = store.health()
    assert (health.buffered, health.dropped) == (5, 3)
    assert "LEARNING DATA LOST" in caplog.text
    assert [p.row["comment"] for p in store._buffer] == ["3", "4", "5", "6", "7"]  # newest kept
    await store.flush()
    assert store.health().healthy is False
    await store.close()  # what never reached Neo4j is counted as lost
    assert store.health().dropped == 8


async def test_missing_database_keeps_records_and_fails_queries(server: Neo4jServer) -> None:
    """A configuration error (no such database) is not the records' fault: none is dropped."""
    if not server.running:
        server.start()
    store = Neo4jKnowledgeStore(server.uri, database="nosuchdb", flush_interval=60)
    await store.record_correction(Correction(run_id=_tag(), step="s", comment="kept"))
    await store.flush()
    health = store.health()
    assert (health.healthy, health.buffered, health.dropped) == (False, 1, 0)
    assert "nosuchdb" in (health.last_error or "").lower()
    with pytest.raises(LearningUnavailable, match=server.uri):
        await store.corrections("x")
    await store.close()
    assert store.health().dropped == 1


async def test_memory_graph_indexes_and_replacement(
    store: Neo4jKnowledgeStore, server: Neo4jServer
) -> None:
    """A memory links to its run, failure, project and pattern; writing it again replaces the
    links and its embedding's label; the indexes are there; hostile text is only text."""
    tag = _tag()
    hostile = f'{tag} \') MATCH (n) DETACH DELETE n // text:(*) AND filters:x~ \\ "q" $rows'
    first = Memory(
        id=f"m-{tag}",
        kind="fix",
        text=hostile,
        language="python",
        project=f"p-{tag}",
        pattern="bug_fix",
        signature=f"sig {tag}",
        run_id=f"r-{tag}",
        embedding=[0.1, 0.2, 0.3],
    )
    await store.record_memories([first])
    await store.flush()
    shape_query = (
        "MATCH (m:Memory {id: $id}) RETURN m.text AS text, labels(m) AS labels, "
        "[(m)-[:FROM_RUN]->(r:Run) | r.id] AS runs, "
        "[(m)-[:ABOUT]->(s:FailureSignature) | s.text] AS failures, "
        "[(m)-[:IN_PROJECT]->(p:Project) | p.name] AS projects, "
        "[(m)-[:USED]->(p:Pattern) | p.name] AS patterns, m.embedding AS embedding"
    )
    [shape] = await _cypher(server, shape_query, id=first.id)
    assert shape["text"] == hostile
    assert isinstance(shape["labels"], list)
    assert sorted(shape["labels"]) == ["Memory", "MemoryVector3"]
    assert (shape["runs"], shape["failures"], shape["projects"], shape["patterns"]) == (
        [f"r-{tag}"],
        [f"sig {tag}"],
        [f"p-{tag}"],
        ["bug_fix"],
    )
    assert shape["embedding"] == pytest.approx([0.1, 0.2, 0.3])
    [found] = await store.memory_candidates(
        MemoryQuery(text=hostile, language="python", project=f"p-{tag}")
    )
    assert found.memory.text == hostile
    indexes = {
        r["name"]: r for r in await _cypher(server, "SHOW INDEXES YIELD name, type, state RETURN *")
    }
    for name, kind in [
        ("wg_memory_text", "FULLTEXT"),
        ("wg_memory_embedding_3", "VECTOR"),
        ("wg_memory_language", "RANGE"),
        ("wg_memory_kind", "RANGE"),
    ]:
        assert (indexes[name]["type"], indexes[name]["state"]) == (kind, "ONLINE")

    again = first.model_copy(update={"project": "", "pattern": "", "embedding": None})
    await store.record_memories([again])
    await store.flush()
    [shape] = await _cypher(server, shape_query, id=first.id)
    assert shape["labels"] == ["Memory"] and shape["embedding"] is None
    assert (shape["runs"], shape["failures"], shape["projects"], shape["patterns"]) == (
        [f"r-{tag}"],
        [f"sig {tag}"],
        [],
        [],
    )
    # an embedding Neo4j cannot index is left out; the memory is kept
    bad = Memory(id=f"bad-{tag}", kind="solution", text=f"{tag} bad", embedding=[0.0, 0.0, 0.0])
    await store.record_memories([bad])
    await store.flush()
    assert store.health().dropped == 0
    [kept] = await _cypher(server, shape_query, id=bad.id)
    assert kept["embedding"] is None


async def test_memory_bulk_load_waits_for_the_sender(
    store: Neo4jKnowledgeStore, server: Neo4jServer
) -> None:
    """More memories at once than the buffer holds: the call waits for the sender instead of
    dropping them."""
    tag = _tag()
    store.buffer_size, store.batch_size = 300, 100
    before = await store.count_memories()
    items = [
        Memory(id=f"bulk{i}-{tag}", kind="outcome", text=f"bulk {tag} {i}") for i in range(2500)
    ]
    await store.record_memories(items)
    await store.flush()
    assert store.health().dropped == 0
    assert await store.count_memories() == before + 2500


@pytest.mark.parametrize("search", ["exact", "approximate"])
async def test_vector_search_under_selective_filters(
    store: Neo4jKnowledgeStore, monkeypatch: pytest.MonkeyPatch, search: str
) -> None:
    """Neo4j's vector search cannot filter. Few memories pass the filters: they are compared
    one by one (exact). Many pass (made so here): when the nearest neighbours fail the
    filters, the store asks for more until the query's limit is met."""
    if search == "approximate":
        monkeypatch.setattr(neo4j_memory, "VECTOR_EXACT_MIN", 0)
        monkeypatch.setattr(neo4j_memory, "VECTOR_EXACT_MAX", 0)
    tag = _tag()
    rng = random.Random(tag)
    q = [rng.gauss(0.0, 1.0) for _ in range(5)]  # dimensions no other test uses
    crowd = [  # nearest to the query, in another project
        Memory(
            id=f"crowd{i}-{tag}",
            kind="solution",
            text=f"crowd {i}",
            project=f"other-{tag}",
            embedding=[x + rng.gauss(0.0, 0.01) for x in q],
        )
        for i in range(400)
    ]
    ours = [
        Memory(
            id=f"ours{i}-{tag}",
            kind="solution",
            text=f"ours {i}",
            project=f"p-{tag}",
            embedding=[x + rng.gauss(0.0, 0.3) for x in q],
        )
        for i in range(5)
    ]
    await store.record_memories(crowd + ours)
    await store.flush()
    found = await store.memory_candidates(
        MemoryQuery(text="", language="", project=f"p-{tag}", embedding=q, limit=5)
    )
    assert sorted(c.memory.id for c in found) == sorted(m.id for m in ours)
    assert all(c.similarity is not None and c.lexical is None for c in found)
    expected = sorted(ours, key=lambda m: -_cosine(q, m.embedding or []))
    assert [c.memory.id for c in found] == [m.id for m in expected]
    for cand, memory in zip(found, expected, strict=True):
        assert cand.similarity == pytest.approx(_cosine(q, memory.embedding or []), abs=1e-5)


async def test_memory_bulk_load_while_down_does_not_wait_long() -> None:
    """Against a server that is not there, a bulk load waits for one flush at most, then
    lets the bounded buffer drop the oldest (counted)."""
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Neo4jKnowledgeStore(
        f"bolt://127.0.0.1:{port}", buffer_size=10, flush_timeout=1.0, connect_timeout=0.5
    )
    items = [Memory(id=f"down{i}", kind="outcome", text=f"down {i}") for i in range(100)]
    t = time.perf_counter()
    await store.record_memories(items)
    assert time.perf_counter() - t < 3.0
    health = store.health()
    assert (health.buffered, health.dropped) == (10, 90)
    await store.close()


async def test_memory_query_of_any_size_is_answered(store: Neo4jKnowledgeStore) -> None:
    """A request of many words (or words of many terms) stays under Lucene's clause limit."""
    tag = _tag()
    await store.record_memories([Memory(id=f"big-{tag}", kind="solution", text=f"zz{tag} yy")])
    await store.flush()
    words = [f"w{i}-{'-'.join('abcdefgh')}" for i in range(600)] + [f"zz{tag}"]
    for text in (" ".join(words), f"zz{tag} " + " ".join(words)):
        found = await store.memory_candidates(MemoryQuery(text=text[:20000], language=""))
        assert isinstance(found, list)
    [hit] = await store.memory_candidates(MemoryQuery(text=f"zz{tag} " * 50, language=""))
    assert hit.memory.id == f"big-{tag}"
