"""Memories in PostgreSQL: the `learning_memories` table and the knowledge-store methods that
keep and recall them (mixed into `PostgresLearningStore`, which owns the connection pool).

Stage 1 of recall (`memory_candidates`) runs two searches under the hard filters
(adapters/learning/memory.py) at once, each on a connection of its own (postgres_search.py
writes their SQL):
- full text against the stored, GIN-indexed `tsv` (the text's lexemes, english
  configuration, and the hard filters' values), ranked by `ts_rank`, over the query's rarest
  lexemes (`TermStats.pick`): ranking costs per matching row, and one common word matches
  most memories;
- vectors (when the query carries an embedding): pgvector's cosine distance among memories
  whose embedding has the query's dimensions. The column has no fixed size (models differ and
  change), so each size gets a partial HNSW index over `embedding::vector(D)`, built by the
  first vector search of that size that finds none (`_ensure_hnsw`), not by the first write:
  pgvector builds an index over rows already written about six times faster than it inserts
  them one by one into an existing one (measured on 2 cores: the benchmark's 100k memories of
  256 dimensions load in about 40 s and then index in 12-21 s; loading into an existing
  index, 40k random ones took 126 s, slowing as it grew), and a bulk load is written before
  anything is recalled. Once it exists, pgvector keeps it current.
The two ranked id lists are fused by reciprocal rank in Python (`rrf_fuse`), the fusion every
store shares.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Computed,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import UserDefinedType

from adapters.learning.contract import LearningUnavailable
from adapters.learning.memory import FixPath, Memory, MemoryCandidate, MemoryQuery
from adapters.learning.postgres_search import (
    STATS_SQL,
    TSV_SQL,
    TermStats,
    fused,
    hnsw_name,
    hnsw_sql,
    lexemes_sql,
    lexical_sql,
    vector_settings_sql,
    vector_sql,
    vector_text,
)

log = logging.getLogger(__name__)

BATCH = 1000  # memories per INSERT transaction: a failed batch loses at most this many
MAX_HNSW_DIMS = 2000  # pgvector's HNSW limit for `vector`; larger embeddings are scanned
HNSW_BUILD_MEM = "512MB"  # maintenance_work_mem of a build: 100k x 256 dims fit in memory
STATS_TTL_S = 60.0  # how long the table's lexeme statistics are reused
ANALYZE_AFTER = 1000  # rows written (and at least half the table) before ANALYZE runs again
_HNSW_LOCK = 0x57E4_0013  # serialises index builds of concurrent processes


class Vector(UserDefinedType[list[float]]):
    """pgvector's `vector` without fixed dimensions (the Python package is not needed just to
    send a list as its text form '[1.0,2.0]'; it is never read back)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"

    def bind_processor(self, dialect: Dialect) -> Any:
        def process(value: Sequence[float] | None) -> str | None:
            return None if value is None else vector_text(value)

        return process


memory_metadata = MetaData()  # postgres.py copies the table into `learning_metadata`
# created by migration 0013; a column per Memory field (`scope` is derived, not stored)
learning_memories = Table(
    "learning_memories",
    memory_metadata,
    Column("id", Text, primary_key=True),
    *(
        Column(name, Text, nullable=False)
        for name in (
            "kind",
            "text",
            "content",
            "language",
            "framework",
            "project",
            "user",
            "pattern",
            "task_type",
            "model_group",
            "signature",
            "run_id",
        )
    ),
    Column("success", Boolean, nullable=True),
    Column("avoid", ARRAY(Text), nullable=False),
    Column("embedding", Vector, nullable=True),
    Column("embedding_dims", Integer, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("recalled", Integer, nullable=False, server_default="0"),
    Column("helped", Integer, nullable=False, server_default="0"),
    Column("tsv", TSVECTOR, Computed(TSV_SQL, persisted=True)),
    # no btree on language or kind: filters that pass most rows (a language's and the
    # language-less memories) only lead the planner to bitmap-scan them instead of `tsv`
    Index("learning_memories_tsv_idx", "tsv", postgresql_using="gin"),
)
assert set(Memory.model_fields) | {"embedding_dims", "recalled", "helped", "tsv"} == set(
    learning_memories.c.keys()
), "learning_memories must hold every Memory field"
# what writing a memory again replaces: everything but its recall counts
_REPLACED = [
    c.name for c in learning_memories.columns if c.name not in ("id", "recalled", "helped", "tsv")
]


def _clean(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL; model output sometimes does."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.replace("\x00", "") for v in value]
    return value


def _row(memory: Memory) -> dict[str, Any]:
    """A memory as table values. An embedding pgvector cannot hold (empty, NaN, infinite) is
    left out rather than losing the memory with its batch."""
    values = {name: _clean(v) for name, v in memory.model_dump(exclude={"scope"}).items()}
    emb = values["embedding"]
    if emb is not None and (not emb or not all(math.isfinite(x) for x in emb)):
        emb = values["embedding"] = None
    values["embedding_dims"] = len(emb) if emb is not None else None
    return values


class PostgresMemories:
    """Memories for `PostgresLearningStore`: writes are counted in `health()` when lost, never
    raised; reads raise LearningUnavailable when the server does not answer."""

    db: AsyncEngine
    _last_error: str | None
    _dropped: int
    # per store object, set on first use (class defaults: the store's __init__ is not ours)
    _term_stats: TermStats | None = None
    _unanalyzed: int = 0  # rows this object wrote since it last ran ANALYZE

    def _lost(self, what: str, count: int, exc: Exception) -> None:
        self._dropped += count
        self._last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        log.error(
            "learning record LOST (%s, %d lost so far): %s", what, self._dropped, self._last_error
        )

    async def _rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        try:
            async with self.db.connect() as conn:
                return list((await conn.execute(text(sql), params)).all())
        except (SQLAlchemyError, OSError) as exc:
            raise LearningUnavailable(f"learning tables in PostgreSQL: {exc}") from None

    async def record_memories(self, items: list[Memory]) -> None:
        rows = list({m.id: _row(m) for m in items}.values())  # one row per id: the last wins
        if not rows:
            return
        stmt = pg_insert(learning_memories)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"], set_={name: stmt.excluded[name] for name in _REPLACED}
        )
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            try:
                async with self.db.begin() as conn:
                    await conn.execute(stmt, batch)
                self._last_error = None
                self._unanalyzed += len(batch)
            except (SQLAlchemyError, OSError) as exc:  # a learning record never fails a run
                self._lost("learning_memories", len(batch), exc)
        await self._analyze_after_growth()

    async def _analyze_after_growth(self) -> None:
        """Refresh the statistics the full-text search picks lexemes by once the table has
        grown by half (autovacuum would, but only within a minute or so: a bulk load is
        queried at once). Sampling costs well under a second at 100k memories."""
        known = self._term_stats.rows if self._term_stats is not None else 0.0
        if self._unanalyzed < max(ANALYZE_AFTER, known / 2):
            return
        try:
            async with self.db.begin() as conn:
                await conn.execute(text("ANALYZE learning_memories"))
                self._term_stats = await _load_stats(conn)
            self._unanalyzed = 0
        except (SQLAlchemyError, OSError) as exc:  # only slower searches until autovacuum
            log.warning("ANALYZE learning_memories failed: %s", exc)

    async def record_recall(self, memory_ids: list[str], helped: bool) -> None:
        if not memory_ids:
            return
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE learning_memories SET recalled = recalled + 1, "
                        "helped = helped + CASE WHEN :helped THEN 1 ELSE 0 END "
                        "WHERE id = ANY(:ids)"
                    ),
                    {"ids": list(dict.fromkeys(memory_ids)), "helped": helped},
                )
            self._last_error = None
        except (SQLAlchemyError, OSError) as exc:
            self._lost("learning_memories recall", len(memory_ids), exc)

    async def memory_candidates(self, query: MemoryQuery) -> list[MemoryCandidate]:
        emb = query.embedding or []
        dims = len(emb) if all(math.isfinite(x) for x in emb) else 0
        searches = [self._lexical(query)] + ([self._vector(query, dims)] if dims else [])
        results = await asyncio.gather(*searches, return_exceptions=True)
        for result in results:
            if isinstance(result, SQLAlchemyError | OSError):
                raise LearningUnavailable(f"learning tables in PostgreSQL: {result}") from None
            if isinstance(result, BaseException):
                raise result
        found = [r for r in results if not isinstance(r, BaseException)]
        return fused(found[0], found[1] if dims else [], query.limit)

    async def _lexical(self, query: MemoryQuery) -> Sequence[Any]:
        async with self.db.connect() as conn:
            stats = self._term_stats
            if stats is None or stats.stale(STATS_TTL_S):
                stats = self._term_stats = await _load_stats(conn)
            lexemes = (await conn.execute(*lexemes_sql(query))).scalar() or []
            chosen = stats.pick(lexemes)
            if not chosen:
                return []
            return (await conn.execute(*lexical_sql(query, chosen))).all()

    async def _vector(self, query: MemoryQuery, dims: int) -> Sequence[Any]:
        async with self.db.connect() as conn:
            indexed = (await conn.execute(*vector_settings_sql(query, dims))).scalar()
            if not indexed and dims <= MAX_HNSW_DIMS:
                await conn.rollback()  # the build runs in a transaction of its own
                await _ensure_hnsw(conn, dims)
                await conn.execute(*vector_settings_sql(query, dims))  # set again
            return (await conn.execute(*vector_sql(query, dims))).all()

    async def fix_paths(self, signatures: list[str], language: str) -> list[FixPath]:
        if not signatures:
            return []
        rows = await self._rows(
            "SELECT signature, model_group, count(*), count(*) FILTER (WHERE fix <> '') "
            "FROM learning_fixes WHERE signature = ANY(:sigs) AND language = :language "
            "GROUP BY signature, model_group",
            {"sigs": list(signatures), "language": language},
        )
        paths = [FixPath(signature=s, model_group=g, tried=t, fixed=f) for s, g, t, f in rows]
        # sorted here, not by the database's collation, so every backend orders alike
        return sorted(paths, key=lambda p: (p.signature, p.model_group))

    async def count_memories(self) -> int:
        [(count,)] = await self._rows("SELECT count(*) FROM learning_memories", {})
        return int(count)


async def _load_stats(conn: AsyncConnection) -> TermStats:
    row = (await conn.execute(text(STATS_SQL))).one()
    return TermStats(float(row.reltuples), row.elems, row.freqs)


async def _ensure_hnsw(conn: AsyncConnection, dims: int) -> None:
    """Build the HNSW index of embeddings of `dims` dimensions, unless another process has
    meanwhile (the advisory lock makes the second wait for the first, then find it). The
    build blocks writes to the table while it runs; reads go on. A build that fails leaves
    the search exact (slower) and is tried again by the next search."""
    try:
        async with conn.begin():
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _HNSW_LOCK})
            if await conn.scalar(text("SELECT to_regclass(:n)"), {"n": hnsw_name(dims)}) is None:
                await conn.execute(text(f"SET LOCAL maintenance_work_mem = '{HNSW_BUILD_MEM}'"))
                began = time.perf_counter()
                await conn.execute(text(hnsw_sql(dims)))
                log.info("built %s in %.1f s", hnsw_name(dims), time.perf_counter() - began)
    except (SQLAlchemyError, OSError) as exc:
        if conn.invalidated or conn.closed:
            raise
        log.warning("could not build %s (vector search scans instead): %s", hnsw_name(dims), exc)
