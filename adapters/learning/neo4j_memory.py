"""Memories in Neo4j (adapters/learning/memory.py): the part of `Neo4jKnowledgeStore` that keeps
them and answers stage 1 of recall, with its Cypher.

The graph:

    (:Memory {id, kind, text, content, language, framework, project, user, pattern, task_type,
              model_group, signature, run_id, success, avoid, embedding, at, recalled, helped,
              filters, fields})
    (:Memory)-[:FROM_RUN]->(:Run)                  when run_id is set
    (:Memory)-[:ABOUT]->(:FailureSignature)        when signature is set (fix memories)
    (:Memory)-[:IN_PROJECT]->(:Project {name})     when project is set
    (:Memory)-[:USED]->(:Pattern)                  when pattern is set
    a memory with an embedding of D dimensions also has the label MemoryVectorD

Run, FailureSignature and Pattern are the nodes cypher.py describes (the same keys), so a
memory sits beside the run that taught it and the failure it fixes. Writing a memory again
(same id) replaces its fields, embedding and relationships and keeps `recalled` and `helped`.
`fields` repeats the small fields as JSON: a query reads a memory in five properties, not
eighteen (each costs the server and the driver time: about 3x less for 150 candidates).

Full text. A full-text index (`wg_memory_text`, Lucene's english analyzer: stop words and
stemming, like PostgreSQL's english configuration) over Memory.text and Memory.filters.
`filters` holds one token per hard filter (a letter and digits of a hash: language, project,
user, kind), so the query applies the hard filters inside Lucene — its `limit` counts only
memories that pass them — and the filter clauses are boosted by 0, so the score is the text's.
The query's words (split on white space, Lucene's special characters escaped, words of fewer
than two letters or digits and English stop words left out) are OR'ed.

Vectors. Neo4j 5 fixes the dimensions of a vector index, and embedding models differ (and
change), so each dimension count D gets its own cosine index (`wg_memory_embedding_D`) over
the label MemoryVectorD, created when the first memory with such an embedding is written; a
query searches the index of its embedding's dimensions (none there: full text only). Each
index costs memory in the server, so a database should hold few dimension counts; where
Neo4j refuses an index (over 4096 dimensions, no permission) those memories are kept, with
their embedding, but found by full text only. An embedding Neo4j cannot index (a non-finite
value, all zeros) is not stored.

Neo4j 5's vector search cannot filter, and an approximate search followed by the filters
must ask for about limit / (share of memories that pass) neighbours. So a query first asks
the full-text index for the memories that pass the hard filters (the `filters` tokens alone):
when there are at most about as many of them as an approximate search would need neighbours
(sqrt(limit * memories * `VECTOR_K_MARGIN`), kept between `VECTOR_EXACT_MIN` and
`VECTOR_EXACT_MAX`), it compares the query with each of them (exact, and cheaper). Otherwise
it asks the vector index for `k` neighbours (as many as the running share of neighbours
that passed the filters in recent queries says are needed), applies the hard filters, and,
when too few passed, asks again with a `k` as large as this query's share says is needed, at
most `VECTOR_K_MAX`: when more than `VECTOR_EXACT_MAX` memories but under about 4% of them
pass the filters, a query (of the default limit) can get fewer vector candidates than there
are. Similarities are computed exactly from the stored vectors (the index's own score is
quantized).

One round trip answers a query (the full-text and the vector search in one statement); a
second one only when the approximate search needs a larger `k`, and, for a query whose
dimensions have no index this store knows of, a look at the indexes at most every
`VECTOR_RECHECK_S` seconds.

Recall counts (`record_recall`) are increments: unlike the other writes, a batch sent again
after a lost acknowledgement counts twice. The only Cypher built from a value is the vector
index's DDL, from an int (label, property and option names cannot be parameters).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any

from neo4j.exceptions import Neo4jError

from adapters.learning import cypher
from adapters.learning.contract import (
    FixPath,
    Memory,
    MemoryCandidate,
    MemoryQuery,
    rrf_fuse,
)
from adapters.learning.cypher import node_key
from adapters.learning.neo4j_memory_cypher import (
    _ANN,
    _EXACT,
    _LEXICAL,
    _NO_LEXICAL,
    _NO_POOL,
    _NO_VECTOR,
    _POOL,
    _RETURN,
    AWAIT_INDEX,
    BULK_CHUNK,
    COUNT_MEMORIES,
    READ_VECTOR_INDEXES,
    VECTOR_EXACT_MAX,
    VECTOR_EXACT_MIN,
    VECTOR_INDEX,
    VECTOR_K_MARGIN,
    VECTOR_K_MAX,
    VECTOR_K_MIN,
    VECTOR_LABEL,
    VECTOR_RECHECK_S,
    _memory,
    _memory_row,
    _refused,
    _vector,
    create_vector_index,
    lucene_filters,
    lucene_query,
)

if TYPE_CHECKING:
    import logging

    from neo4j import AsyncDriver


class Neo4jMemoryMixin:
    """The memory methods of `Neo4jKnowledgeStore` (see the module docstring)."""

    # dimension counts whose vector index is online / that Neo4j refused an index (replaced,
    # never mutated: these class defaults are shared)
    _vector_dims: frozenset[int] = frozenset()
    _vector_refused: frozenset[int] = frozenset()
    _vector_checked: float = -math.inf  # monotonic time of the last look at the indexes
    _vector_passing = 0.4  # running share of vector neighbours that pass the hard filters

    if TYPE_CHECKING:  # provided by Neo4jKnowledgeStore and BufferedStore
        uri: str
        database: str | None
        send_timeout: float
        buffer_size: int
        _log: logging.Logger
        _failures: int  # failed sends in a row

        def _add(self, kind: str, row: dict[str, Any]) -> None: ...
        def _pending(self) -> int: ...
        def _get_driver(self) -> AsyncDriver: ...
        async def _read(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...

    # -- writes --------------------------------------------------------------------------------

    async def record_memories(self, items: list[Memory]) -> None:
        # A bulk load (more than BULK_CHUNK memories) waits for the background sender: for
        # room rather than overflow the buffer, and at the end until its memories are sent,
        # so a flush() after it has little left to do. A run records a few memories and
        # never waits. Once the sender fails (the server is down or too slow), the rest of
        # the call does not wait: the buffer drops the oldest, counted.
        step = max(1, min(BULK_CHUNK, self.buffer_size // 2))
        wait = True
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            if wait:
                wait = await self._room_for(len(chunk))
            for item in chunk:
                self._add("memory", _memory_row(item))
        if wait and len(items) > BULK_CHUNK:
            await self._room_for(self.buffer_size)  # until nothing is pending

    async def _room_for(self, n: int) -> bool:
        """Wait until the buffer has room for `n` more records while the sender gets records
        through; False (at once) when a send fails or nothing got through for a while."""
        pending = self._pending()
        progress = time.monotonic()
        while self._pending() + n > self.buffer_size:
            if self._failures or time.monotonic() - progress > self.send_timeout + 1.0:
                return False
            await asyncio.sleep(0.02)
            if self._pending() < pending:
                pending, progress = self._pending(), time.monotonic()
        return True

    async def record_recall(self, memory_ids: list[str], helped: bool) -> None:
        for memory_id in dict.fromkeys(memory_ids):  # each memory once per recall
            self._add("recall", {"id": memory_id, "helped": bool(helped)})

    async def _ensure_vector_indexes(self, rows: list[dict[str, Any]]) -> None:
        """Before memory rows are written: create the vector index of each dimension count
        among their embeddings that has none yet. Raises when Neo4j is unavailable; a refusal
        is logged, and those memories are found by full text only."""
        wanted = {len(r["embedding"]) for r in rows if r.get("embedding")}
        wanted -= self._vector_dims | self._vector_refused
        if not wanted:
            return
        async with asyncio.timeout(self.send_timeout):
            async with self._get_driver().session(database=self.database) as session:
                for dims in sorted(wanted):
                    try:
                        for statement, params in (
                            (create_vector_index(dims), {}),
                            (AWAIT_INDEX, {"name": f"{VECTOR_INDEX}{dims}"}),
                        ):
                            result = await session.run(statement, params)
                            await result.consume()
                    except (Neo4jError, ValueError) as exc:
                        if isinstance(exc, Neo4jError) and not _refused(exc):
                            raise
                        self._vector_refused |= {dims}
                        self._log.error(
                            "Neo4j at %s: no vector index for %d-dimension embeddings (%s); "
                            "such memories are found by full-text search only",
                            self.uri,
                            dims,
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                        )
                    else:
                        self._vector_dims |= {dims}

    # -- queries -------------------------------------------------------------------------------

    async def count_memories(self) -> int:
        [row] = await self._read(COUNT_MEMORIES, {})
        return int(row["n"])

    async def fix_paths(self, signatures: list[str], language: str) -> list[FixPath]:
        if not signatures:
            return []
        records = await self._read(
            cypher.READ_FIX_PATHS,
            {"signature_ids": sorted({node_key(s) for s in signatures}), "language": language},
        )
        paths = [
            FixPath(
                signature=r["signature"],
                model_group=r["model_group"] or "",
                tried=int(r["tried"]),
                fixed=int(r["fixed"]),
            )
            for r in records
        ]
        return sorted(paths, key=lambda p: (p.signature, p.model_group))

    async def _has_vector_index(self, dims: int) -> bool:
        """Whether an online vector index serves embeddings of `dims` dimensions (known to
        this store, or found in Neo4j, looked up at most every VECTOR_RECHECK_S seconds)."""
        if dims in self._vector_dims:
            return True
        if time.monotonic() - self._vector_checked > VECTOR_RECHECK_S:
            found = await self._read(READ_VECTOR_INDEXES, {})
            self._vector_checked = time.monotonic()
            online = {
                int(r["dims"])
                for r in found
                if r["dims"] is not None and r["name"] == f"{VECTOR_INDEX}{r['dims']}"
            }
            self._vector_dims |= online
        return dims in self._vector_dims

    @staticmethod
    def _vector_k(limit: int, passing: float) -> int:
        """How many neighbours to ask for when this share of them passes the filters."""
        wanted = math.ceil(VECTOR_K_MARGIN * limit / max(passing, 1e-3))
        return min(max(wanted, VECTOR_K_MIN), VECTOR_K_MAX)

    def _note_passing(self, found: int, passing: int) -> None:
        """Keep a running average of the share of neighbours that passed the filters, so the
        next search asks for enough of them at once."""
        share = max(passing, 0.5) / found
        self._vector_passing = 0.7 * self._vector_passing + 0.3 * share

    async def memory_candidates(self, query: MemoryQuery) -> list[MemoryCandidate]:
        lucene = lucene_query(query)
        embedding = _vector(query.embedding)
        if embedding is not None and not await self._has_vector_index(len(embedding)):
            embedding = None
        if lucene is None and embedding is None:
            return []
        limit = query.limit
        k = self._vector_k(limit, self._vector_passing)
        dims = len(embedding or ())
        params: dict[str, Any] = {
            "lucene": lucene,
            "pool": lucene_filters(query),
            "exact_min": VECTOR_EXACT_MIN,
            "exact_max": VECTOR_EXACT_MAX,
            "k_margin": VECTOR_K_MARGIN,
            "embedding": embedding,
            "vector_index": f"{VECTOR_INDEX}{dims}",
            "vector_label": f"{VECTOR_LABEL}{dims}",
            "limit": limit,
            "k": k,
            "known": [],
            "language": query.language,
            "project": query.project,
            "user": query.user,
            "kinds": sorted(set(query.kinds)),
        }
        statement = (
            (_LEXICAL if lucene is not None else _NO_LEXICAL)
            + (_POOL + _EXACT + _ANN if embedding is not None else _NO_VECTOR)
            + _RETURN
        )
        [row] = await self._read(statement, params)
        lexical: list[dict[str, Any]] = row["lexical"]
        vector: list[dict[str, Any]] = row["vector"]
        # Neo4j found k neighbours but too few passed the filters: ask for as many more as
        # the share that passed says are needed
        while row["found"] >= k and row["passing"] < limit and k < VECTOR_K_MAX:
            self._note_passing(row["found"], row["passing"])
            k = max(2 * k, self._vector_k(limit, max(row["passing"], 0.5) / row["found"]))
            k = min(k, VECTOR_K_MAX)
            params.update(k=k, known=[h["id"] for h in lexical])
            [row] = await self._read(_NO_POOL + _EXACT + _ANN + _RETURN, params)
            vector = row["vector"]
        if row["found"]:
            self._note_passing(row["found"], row["passing"])
        vector.sort(key=lambda h: (-h["score"], h["id"]))  # exact similarity, best first
        found: dict[str, list[Any]] = {}
        for hit in (*lexical, *vector):
            if hit["memory"] is not None:
                found.setdefault(hit["id"], hit["memory"])
        lexical_score = {h["id"]: float(h["score"]) for h in lexical}
        # Neo4j's cosine similarity is (1 + cosine) / 2
        similarity = {h["id"]: 2.0 * float(h["score"]) - 1.0 for h in vector}
        fused = rrf_fuse([h["id"] for h in lexical], [h["id"] for h in vector])
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        candidates = []
        for key, score in ranked:
            memory, recalled, helped = _memory(key, found[key])
            candidates.append(
                MemoryCandidate(
                    memory=memory,
                    lexical=lexical_score.get(key),
                    similarity=similarity.get(key),
                    rrf=score,
                    recalled=recalled,
                    helped=helped,
                )
            )
        return candidates
