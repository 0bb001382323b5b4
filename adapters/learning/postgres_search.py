"""The SQL of stage 1 of recall in PostgreSQL (postgres_memory.py runs it), and the choice of
what the full-text search looks for.

Which lexemes: ranking costs per matching row (`ts_rank` reads each row's tsvector; measured
about 5 µs a row, so an OR of common words over 100k memories takes half a second), and one
common word ("function", "test") matches most memories. So the query's lexemes are taken
rarest first, by ANALYZE's statistics of `tsv` (its most common elements and the share of rows
holding each), while the rows they are expected to match stay within `ROW_BUDGET`; beside a
rarer one, a lexeme in more than `MAX_TERM_FREQ` of the memories is not searched: like a stop
word, it says little about which memory is meant (what BM25's inverse document frequency
would weigh; `ts_rank` does not). Measured on the benchmark's 100k memories
(bench/memory_set.py): taking every lexeme ranks 50-100k rows in about 120 ms and finds fewer
of the relevant memories (0.78 of them) than the budget of 5000 rows does in about 8 ms (0.80;
10000 rows: 0.85 in about 13 ms). OR, not AND: a request rarely repeats a remembered one word
for word, and `ts_rank` already prefers memories sharing more of the words.

The hard filters are in the tsvector too: `tsv` holds, besides the text's lexemes, one lexeme
per filtered field ('language=python', 'project=', ...; no text yields a lexeme with '='),
and the search ANDs the filters' alternatives to the words, so the GIN index yields only the
memories that pass them. Without that, every memory holding a word is read from the table to
test its filters (measured at 100k memories: p95 18 ms, against 9 ms). The filters are also
tested on the columns (values longer than `FILTER_CHARS` are cut in the lexemes).

The two searches run at once, each on a connection of its own (postgres_memory.py), so where
the server has a core free for each, a hybrid search costs about the slower of the two
rather than their sum. Only fixed SQL, placeholders
and integers (the dimensions) are pasted together here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import TextClause, text

from adapters.learning.memory import MAX_TEXT, Memory, MemoryCandidate, MemoryQuery, rrf_fuse

ROW_BUDGET = 5000  # the rows the chosen lexemes are expected to match, at most
MAX_TERM_FREQ = 0.05  # a lexeme in more memories than this share is never searched
MAX_QUERY_TERMS = 64  # the most lexemes one search ORs
FILTER_CHARS = 500  # of a filtered value in its lexeme (a lexeme holds at most 2046 bytes)
MIN_EF_SEARCH = 100  # HNSW candidates per scan; pgvector's default of 40 loses recall
FIELDS = [name for name in Memory.model_fields if name != "embedding"]  # what candidates show
_SELECTED = ", ".join(f'm."{name}"' for name in [*FIELDS, "recalled", "helped"])

_FILTERED = ("language", "project", "user", "kind")
# `learning_memories.tsv`: the text's lexemes and one per filtered field (see above)
TSV_SQL = (
    "to_tsvector('english'::regconfig, text) || array_to_tsvector(ARRAY["
    + ", ".join(f"'{name}=' || left(\"{name}\", {FILTER_CHARS})" for name in _FILTERED)
    + "])"
)
# the number of memories and the most common lexemes of `tsv` with the share of rows holding
# each (the shares array ends with the least and greatest share and the share of nulls)
STATS_SQL = (
    "SELECT c.reltuples, s.most_common_elems::text::text[] AS elems, "
    "s.most_common_elem_freqs AS freqs FROM pg_class AS c "
    "LEFT JOIN pg_stats AS s ON s.schemaname = c.relnamespace::regnamespace::text "
    "AND s.tablename = c.relname AND s.attname = 'tsv' "
    "WHERE c.oid = 'learning_memories'::regclass"
)


def vector_text(value: Sequence[float]) -> str:
    """pgvector's text form of a vector."""
    return "[" + ",".join(repr(float(x)) for x in value) + "]"


def hnsw_name(dims: int) -> str:
    return f"learning_memories_hnsw_{int(dims)}"


def hnsw_sql(dims: int) -> str:
    d = int(dims)
    return (
        f"CREATE INDEX IF NOT EXISTS {hnsw_name(d)} ON learning_memories "
        f"USING hnsw ((embedding::vector({d})) vector_cosine_ops) WHERE embedding_dims = {d}"
    )


class TermStats:
    """How many memories there are and the share holding each common lexeme; a lexeme not
    listed is rarer than `floor`. Empty (`rows` 0) before the table was first analyzed."""

    def __init__(self, rows: float, elems: list[str] | None, freqs: list[float] | None) -> None:
        self.rows = max(rows, 0.0)
        self.freqs = dict(zip(elems or [], freqs or [], strict=False))
        self.floor = float(freqs[-3]) if elems and freqs and len(freqs) >= 3 else 0.0
        self.loaded = time.monotonic()

    def stale(self, ttl_s: float) -> bool:
        return time.monotonic() - self.loaded > ttl_s

    def pick(self, lexemes: list[str]) -> list[str]:
        """The lexemes to search for: rarest first (query order among equals) while the rows
        they are expected to match stay within ROW_BUDGET; after the rarest, none in more
        than MAX_TERM_FREQ of the memories (a query of common words only still searches its
        rarest, where the table is small enough). All of them without statistics: the table
        is new or small, and ranking all of it is cheap."""
        if not self.freqs:
            return lexemes[:MAX_QUERY_TERMS]
        share = {lx: self.freqs.get(lx, self.floor) for lx in lexemes}
        chosen: list[str] = []
        expected = 0.0
        for lx in sorted(lexemes, key=share.__getitem__):
            rows = share[lx] * self.rows
            if expected + rows > ROW_BUDGET or (chosen and share[lx] > MAX_TERM_FREQ):
                break
            chosen.append(lx)
            expected += rows
        return chosen[:MAX_QUERY_TERMS]


def tsquery_of(lexemes: list[str]) -> str:
    """Lexemes OR-ed as tsquery input, each quoted (quotes and backslashes doubled) so that it
    is taken as it is: it is already normalized, and no character in it is an operator."""
    quoted = ("'" + lx.replace("\\", "\\\\").replace("'", "''") + "'" for lx in lexemes)
    return " | ".join(quoted)


def _filter_tsquery(query: MemoryQuery) -> str:
    """The hard filters as tsquery input over the filter lexemes of `tsv`."""
    alternatives: dict[str, list[str]] = {
        "language": [query.language, ""],
        "project": [query.project, ""],
        "user": [query.user, ""],
        "kind": list(query.kinds),
    }
    return " & ".join(
        "(" + tsquery_of([f"{name}={v[:FILTER_CHARS]}" for v in values]) + ")"
        for name, values in alternatives.items()
        if values
    )


def _filters(query: MemoryQuery, params: dict[str, Any]) -> str:
    """The hard filters (memory.py) as SQL over `learning_memories`, filling `params`."""
    params.update(language=query.language, project=query.project, user=query.user)
    sql = "language IN (:language, '') AND project IN (:project, '') AND \"user\" IN (:user, '')"
    if query.kinds:
        params["kinds"] = list(query.kinds)
        sql += " AND kind = ANY(:kinds)"
    return sql


def lexemes_sql(query: MemoryQuery) -> tuple[TextClause, dict[str, Any]]:
    """The query's lexemes in the order they appear; it also turns sequential scans off for
    the transaction: the planner prices `tsv @@ q` at one operator per row, about a hundredth
    of what matching a tsvector against an OR of lexemes costs, so below some 50k memories it
    scans the whole table instead of the GIN index (measured: 15-20 ms instead of 2 at 10k).
    Outside a transaction (an autocommit engine) the setting is simply lost."""
    sql = (
        "SELECT (SELECT array_agg(t.lexeme ORDER BY t.positions[1], t.lexeme) "
        "FROM unnest(to_tsvector('english', :text)) AS t) AS lexemes, "
        "set_config('enable_seqscan', 'off', true) AS seqscan"
    )
    return text(sql), {"text": query.text.replace("\x00", "")[: 2 * MAX_TEXT]}


def vector_settings_sql(query: MemoryQuery, dims: int) -> tuple[TextClause, dict[str, Any]]:
    """Whether the HNSW index of `dims` exists, setting its scan for the session (reverted
    with the read's transaction): up to max(`limit`, MIN_EF_SEARCH) candidates, and more while
    the hard filters reject some (iterative scan; the order is made exact again in `fused`)."""
    sql = (
        "SELECT to_regclass(:index) IS NOT NULL AS indexed, "
        "set_config('hnsw.ef_search', :ef, false) AS ef, "
        "set_config('hnsw.iterative_scan', 'relaxed_order', false) AS scan"
    )
    ef = str(min(1000, max(MIN_EF_SEARCH, query.limit)))
    return text(sql), {"index": hnsw_name(dims), "ef": ef}


def lexical_sql(query: MemoryQuery, lexemes: list[str]) -> tuple[TextClause, dict[str, Any]]:
    """The best `limit` memories holding any of `lexemes` and passing the hard filters, with
    their `score` (ranked by the words alone)."""
    words = tsquery_of(lexemes)
    params: dict[str, Any] = {
        "limit": query.limit,
        "words": words,
        "found": f"({words}) & {_filter_tsquery(query)}",
    }
    sql = (
        f"SELECT {_SELECTED}, ts_rank(m.tsv, q) AS score "  # noqa: S608 (see the docstring)
        "FROM learning_memories AS m, CAST(:words AS tsquery) AS q "
        f"WHERE m.tsv @@ CAST(:found AS tsquery) AND {_filters(query, params)} "
        "ORDER BY score DESC, m.id LIMIT :limit"
    )
    return text(sql), params


def vector_sql(query: MemoryQuery, dims: int) -> tuple[TextClause, dict[str, Any]]:
    """The `limit` memories nearest the query's embedding, with their cosine `distance`. The
    dimensions are inlined, not bound: the planner must see the partial index's expression
    and predicate."""
    params: dict[str, Any] = {"limit": query.limit, "embedding": vector_text(query.embedding or [])}
    d = int(dims)
    sql = (
        f"SELECT {_SELECTED}, m.embedding::vector({d}) <=> "  # noqa: S608 (see the docstring)
        f"CAST(:embedding AS vector({d})) AS distance FROM learning_memories AS m "
        f"WHERE m.embedding_dims = {d} AND {_filters(query, params)} "
        "ORDER BY distance LIMIT :limit"
    )
    return text(sql), params


def fused(lexical: Sequence[Any], vector: Sequence[Any], limit: int) -> list[MemoryCandidate]:
    """The rows of both searches fused by reciprocal rank: best first, ties by id."""
    lex = sorted((r._mapping for r in lexical), key=lambda r: (-r["score"], r["id"]))
    vec = sorted((r._mapping for r in vector), key=lambda r: (r["distance"], r["id"]))
    rows = {r["id"]: r for r in [*lex, *vec]}
    score = {r["id"]: float(r["score"]) for r in lex}
    similarity = {r["id"]: 1.0 - float(r["distance"]) for r in vec}
    scores = rrf_fuse(list(score), list(similarity))
    best = sorted(scores, key=lambda key: (-scores[key], key))[:limit]
    return [
        MemoryCandidate(
            memory=Memory.model_validate({name: rows[key][name] for name in FIELDS}),
            lexical=score.get(key),
            similarity=similarity.get(key),
            rrf=scores[key],
            recalled=rows[key]["recalled"],
            helped=rows[key]["helped"],
        )
        for key in best
    ]
