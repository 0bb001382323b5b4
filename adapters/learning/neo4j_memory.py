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
import hashlib
import json
import math
import re
import time
from typing import TYPE_CHECKING, Any

from neo4j.exceptions import Forbidden, Neo4jError

from adapters.learning import cypher
from adapters.learning.contract import (
    FixPath,
    Memory,
    MemoryCandidate,
    MemoryQuery,
    as_utc,
    rrf_fuse,
)
from adapters.learning.cypher import node_key

if TYPE_CHECKING:
    import logging
    from collections.abc import Sequence

    from neo4j import AsyncDriver

TEXT_INDEX = "wg_memory_text"
VECTOR_INDEX = "wg_memory_embedding_"  # + dimensions
VECTOR_LABEL = "MemoryVector"  # + dimensions
VECTOR_MAX_DIMS = 4096  # Neo4j 5's limit for a vector index
VECTOR_K_MIN = 100  # the fewest neighbours one vector search asks for
VECTOR_K_MARGIN = 1.25  # k = limit / (share of neighbours expected to pass) * this margin
VECTOR_K_MAX = 5000  # the most it asks for when the hard filters leave too few
VECTOR_EXACT_MIN = 500  # this many memories or fewer pass the filters: compare them all
VECTOR_EXACT_MAX = 5000  # never compare more than this many one by one
VECTOR_RECHECK_S = 10.0  # a query's dimensions without a known index: look again after this
MAX_QUERY_WORDS = 200  # words of the query text sent to Lucene
MAX_QUERY_TERMS = 800  # ... and the terms they may become (Lucene allows 1024 clauses)
BULK_CHUNK = 1000  # record_memories waits for the sender when a chunk would overflow the buffer
# Lucene's English stop words (EnglishAnalyzer drops them from the index and the query)
# fmt: off
STOP_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
))
# fmt: on

MEMORY_SCHEMA: tuple[str, ...] = (
    "CREATE CONSTRAINT wg_memory_id IF NOT EXISTS FOR (n:Memory) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_project_name IF NOT EXISTS FOR (n:Project) REQUIRE n.name IS UNIQUE",
    "CREATE INDEX wg_memory_language IF NOT EXISTS FOR (n:Memory) ON (n.language)",
    "CREATE INDEX wg_memory_kind IF NOT EXISTS FOR (n:Memory) ON (n.kind)",
    f"CREATE FULLTEXT INDEX {TEXT_INDEX} IF NOT EXISTS FOR (n:Memory) ON EACH [n.text, n.filters]"
    " OPTIONS {indexConfig: {`fulltext.analyzer`: 'english'}}",
    # a new full-text index answers only once populated (at once on an empty database)
    f"CALL db.awaitIndex('{TEXT_INDEX}', 10)",
)


def create_vector_index(dims: int) -> str:
    """The DDL of the vector index for embeddings of `dims` dimensions (an int, checked)."""
    dims = int(dims)
    if not 1 <= dims <= VECTOR_MAX_DIMS:
        raise ValueError(f"a vector index has 1 to {VECTOR_MAX_DIMS} dimensions, not {dims}")
    return (
        f"CREATE VECTOR INDEX {VECTOR_INDEX}{dims} IF NOT EXISTS "
        f"FOR (n:{VECTOR_LABEL}{dims}) ON (n.embedding) OPTIONS {{indexConfig: "
        f"{{`vector.dimensions`: {dims}, `vector.similarity_function`: 'cosine'}}}}"
    )


AWAIT_INDEX = "CALL db.awaitIndex($name, 10)"
READ_VECTOR_INDEXES = f"""
SHOW INDEXES YIELD name, type, state, options
WHERE type = 'VECTOR' AND state = 'ONLINE' AND name STARTS WITH '{VECTOR_INDEX}'
RETURN name, options.indexConfig.`vector.dimensions` AS dims
"""

_IF = "FOREACH (_ IN CASE WHEN {cond} THEN [1] ELSE [] END | {body})"
_EMBEDDING = f"""
REMOVE m:$([label IN labels(m) WHERE label STARTS WITH '{VECTOR_LABEL}'])
{_IF.format(cond="row.embedding IS NULL", body="REMOVE m.embedding")}
{
    _IF.format(
        cond="row.embedding IS NOT NULL",
        body=f"SET m:$('{VECTOR_LABEL}' + toString(size(row.embedding)))",
    )
}"""
_LINK_RUN = _IF.format(
    cond="row.run_id <> ''",
    body="MERGE (r:Run {id: row.run_id}) MERGE (m)-[:FROM_RUN]->(r)",
)
_LINK_SIGNATURE = _IF.format(
    cond="row.signature <> ''",
    body="MERGE (s:FailureSignature {id: row.signature_id}) ON CREATE SET s.text = row.signature "
    "MERGE (m)-[:ABOUT]->(s)",
)
_LINK_PROJECT = _IF.format(
    cond="row.project <> ''",
    body="MERGE (p:Project {name: row.project}) MERGE (m)-[:IN_PROJECT]->(p)",
)
_LINK_PATTERN = _IF.format(
    cond="row.pattern <> ''",
    body="MERGE (p:Pattern {name: row.pattern}) MERGE (m)-[:USED]->(p)",
)

# the embedding is stored as float[] (setNodeVectorProperty), half the size of a list of floats
WRITE_MEMORIES = f"""
UNWIND $rows AS row
MERGE (m:Memory {{id: row.id}})
SET m.kind = row.kind, m.text = row.text, m.content = row.content, m.language = row.language,
    m.framework = row.framework, m.project = row.project, m.user = row.user,
    m.pattern = row.pattern, m.task_type = row.task_type, m.model_group = row.model_group,
    m.signature = row.signature, m.run_id = row.run_id, m.success = row.success,
    m.avoid = row.avoid, m.at = row.at, m.filters = row.filters, m.fields = row.fields,
    m.recalled = coalesce(m.recalled, 0), m.helped = coalesce(m.helped, 0)
FOREACH (old IN [(m)-[o:FROM_RUN|ABOUT|IN_PROJECT|USED]->() | o] | DELETE old)
{_EMBEDDING}
{_LINK_RUN}
{_LINK_SIGNATURE}
{_LINK_PROJECT}
{_LINK_PATTERN}
WITH m, row WHERE row.embedding IS NOT NULL
CALL db.create.setNodeVectorProperty(m, 'embedding', row.embedding)
"""

WRITE_RECALLS = """
UNWIND $rows AS row
MATCH (m:Memory {id: row.id})
SET m.recalled = coalesce(m.recalled, 0) + 1,
    m.helped = coalesce(m.helped, 0) + CASE WHEN row.helped THEN 1 ELSE 0 END
"""

# the write kinds of this module, in the order a batch runs them (after cypher.WRITES)
MEMORY_WRITES = {"memory": WRITE_MEMORIES, "recall": WRITE_RECALLS}

COUNT_MEMORIES = "MATCH (m:Memory) RETURN count(m) AS n"

# the hard filters (memory.py), on a Memory node `n`
_PASSES = (
    "(n.language = '' OR n.language = $language) AND (n.project = '' OR n.project = $project)"
    " AND (n.user = '' OR n.user = $user) AND (size($kinds) = 0 OR n.kind IN $kinds)"
)


def _returned(n: str) -> str:
    """What a query returns of memory `n`: few properties (each costs time in the server and
    the driver)."""
    return f"[{n}.text, {n}.content, {n}.fields, {n}.recalled, {n}.helped]"


# the query is built from these constant parts: full text or not, then vectors or not
_LEXICAL = f"""
CALL () {{
  CALL db.index.fulltext.queryNodes('{TEXT_INDEX}', $lucene, {{limit: $limit}})
  YIELD node AS n, score
  WHERE score > 0
  RETURN collect({{id: n.id, score: score, memory: {_returned("n")}}}) AS lexical
}}
"""
_NO_LEXICAL = "WITH [] AS lexical\n"
# the memories that pass the hard filters, when there are at most `exact_max` of them: about
# as many as the neighbours an approximate search would need (see the module docstring)
_POOL = f"""
WITH lexical, [h IN lexical | h.id] AS known
CALL () {{
  MATCH (n:Memory)
  WITH toInteger(sqrt($k_margin * $limit * count(n))) AS most
  RETURN CASE WHEN most < $exact_min THEN $exact_min WHEN most > $exact_max THEN $exact_max
              ELSE most END AS exact_max
}}
CALL (exact_max) {{
  CALL db.index.fulltext.queryNodes('{TEXT_INDEX}', $pool, {{limit: exact_max + 1}})
  YIELD node
  RETURN collect(node) AS pool
}}
"""
# a second, wider approximate search
_NO_POOL = "WITH [] AS lexical, $known AS known, [] AS pool, -1 AS exact_max\n"
# exact: the similarity of each memory in a small pool
_EXACT = """
CALL (pool, exact_max) {
  UNWIND CASE WHEN size(pool) <= exact_max THEN pool ELSE [] END AS n
  WITH n WHERE $vector_label IN labels(n)
  WITH n, vector.similarity.cosine(n.embedding, $embedding) AS score
  ORDER BY score DESC, n.id LIMIT $limit
  RETURN collect({node: n, score: score}) AS exact
}
"""
# approximate: k nearest neighbours from the vector index, then the hard filters
_ANN = f"""
OPTIONAL CALL (pool, exact_max) {{
  WITH pool WHERE size(pool) > exact_max
  CALL db.index.vector.queryNodes($vector_index, $k, $embedding) YIELD node
  WITH collect(node) AS found
  WITH size(found) AS found, [n IN found WHERE {_PASSES}] AS passing
  RETURN found, size(passing) AS passing, [n IN passing[..$limit] |
    {{node: n, score: vector.similarity.cosine(n.embedding, $embedding)}}] AS ann
}}
WITH lexical, known, CASE WHEN size(pool) <= exact_max THEN exact ELSE ann END AS hits,
     coalesce(found, 0) AS found, coalesce(passing, 0) AS passing
WITH lexical, found, passing, [h IN hits | {{id: h.node.id, score: h.score,
  memory: CASE WHEN h.node.id IN known THEN null ELSE {_returned("h.node")} END}}] AS vector
"""
_NO_VECTOR = "WITH lexical, 0 AS found, 0 AS passing, [] AS vector\n"
_RETURN = "RETURN lexical, vector, found, passing"

# schema changes Neo4j refuses for good (as opposed to being unavailable)
_REFUSED_CODES = (
    "Neo.ClientError.Security.",
    "Neo.ClientError.Schema.",
    "Neo.ClientError.Procedure.",
    "Neo.ClientError.Statement.",
)
_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_TERM = re.compile(r"[^\W_]+")


def _token(prefix: str, value: str) -> str:
    """A hard-filter token of `filters`: a letter and 25 digits, one term that no analyzer
    splits, stems or drops."""
    return prefix + str(int(hashlib.sha256(value.encode()).hexdigest()[:20], 16)).zfill(25)


def filters_of(memory: Memory) -> str:
    """The `filters` property of a memory: its language, project, user and kind tokens."""
    return " ".join(
        (
            _token("l", memory.language),
            _token("p", memory.project),
            _token("u", memory.user),
            _token("k", memory.kind),
        )
    )


def lucene_words(text: str) -> list[str]:
    """The words of `text` to look for, escaped for Lucene's query syntax and lower-cased (so
    AND, OR and NOT are words); see the module docstring."""
    words: dict[str, None] = {}
    terms = 0
    for raw in text.lower().split():
        bare = "".join(_LETTER_OR_DIGIT.findall(raw))
        if len(bare) < 2 or bare in STOP_WORDS:
            continue
        terms += len(_TERM.findall(raw))  # "off-by-one" is three terms to the analyzer
        if terms > MAX_QUERY_TERMS:
            break
        words[_LUCENE_SPECIAL.sub(r"\\\1", raw)] = None
        if len(words) == MAX_QUERY_WORDS:
            break
    return list(words)


def lucene_filters(query: MemoryQuery) -> str:
    """The hard filters as a full-text query against `filters`."""
    clauses = [
        f"filters:({_token('l', query.language)} OR {_token('l', '')})",
        f"filters:({_token('p', query.project)} OR {_token('p', '')})",
        f"filters:({_token('u', query.user)} OR {_token('u', '')})",
    ]
    if query.kinds:
        kinds = " OR ".join(_token("k", kind) for kind in sorted(set(query.kinds)))
        clauses.append(f"filters:({kinds})")
    return " AND ".join(clauses)


def lucene_query(query: MemoryQuery) -> str | None:
    """The full-text query: the words OR'ed against `text`, the hard filters against `filters`
    with boost 0. None when the text has no word to look for."""
    words = lucene_words(query.text)
    if not words:
        return None
    return f"text:({' OR '.join(words)}) AND ({lucene_filters(query)})^0"


def _vector(embedding: Sequence[float] | None) -> list[float] | None:
    """`embedding` as floats when Neo4j can index it (finite, not all zero), else None."""
    if not embedding:
        return None
    values = [float(v) for v in embedding]
    if not all(math.isfinite(v) for v in values) or not any(values):
        return None
    return values


def _refused(exc: Neo4jError) -> bool:
    code = exc.code or ""
    return isinstance(exc, Forbidden) or code.startswith(_REFUSED_CODES)


# the fields of a memory besides id, text, content and embedding, kept as JSON in `fields`
_FIELDS = (
    "kind", "language", "framework", "project", "user", "pattern", "task_type", "model_group",
    "signature", "run_id", "success", "avoid",
)  # fmt: skip


def _memory(memory_id: str, found: list[Any]) -> tuple[Memory, int, int]:
    """A memory from what a query returned (`_returned`), with its recall counts."""
    text, content, fields, recalled, helped = found
    memory = Memory(id=memory_id, text=text or "", content=content or "", **json.loads(fields))
    return memory, int(recalled or 0), int(helped or 0)


def _memory_row(item: Memory) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "text": item.text,
        "content": item.content,
        "language": item.language,
        "framework": item.framework,
        "project": item.project,
        "user": item.user,
        "pattern": item.pattern,
        "task_type": item.task_type,
        "model_group": item.model_group,
        "signature": item.signature,
        "signature_id": node_key(item.signature) if item.signature else None,
        "run_id": item.run_id,
        "success": item.success,
        "avoid": list(item.avoid),
        "embedding": _vector(item.embedding),
        "at": as_utc(item.at),
        "filters": filters_of(item),
        "fields": json.dumps(
            {"at": as_utc(item.at).isoformat(), **{name: getattr(item, name) for name in _FIELDS}}
        ),
    }


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
        # a bulk load waits for the background sender to make room rather than overflow the
        # buffer (a run records a few memories and never waits); once the sender fails (the
        # server is down or too slow), the rest of the call does not wait: the buffer drops
        # the oldest, counted
        step = max(1, min(BULK_CHUNK, self.buffer_size // 2))
        wait = True
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            if wait:
                wait = await self._room_for(len(chunk))
            for item in chunk:
                self._add("memory", _memory_row(item))

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
