"""The Cypher and the Lucene queries of the Neo4j memory store (neo4j_memory.py, which
explains the graph and the search): constants, statements and the functions that build a
query's text; kept apart so the store's module reads as what it does."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import TYPE_CHECKING, Any

from neo4j.exceptions import Forbidden, Neo4jError

from adapters.learning.contract import (
    Memory,
    MemoryQuery,
    as_utc,
)
from adapters.learning.cypher import node_key

if TYPE_CHECKING:
    from collections.abc import Sequence


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
BULK_CHUNK = 1000  # record_memories of more memories is a bulk load (see there)
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
