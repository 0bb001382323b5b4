"""`python -m bench memory` (`weavergen memory-bench`): recall quality and latency at scale.

The memory set is generated from HumanEval (bench/memory_set.py): failure → fix memories of
each problem's broken variants and its solutions are the relevant memories of the paraphrased
queries about it; variants of other problems' memories fill the set up to N. For each store
and each N: a fresh store (an embedded PostgreSQL database; a fresh Neo4j server) is loaded
with N memories embedded by the stand-in's `/v1/embeddings` (a deterministic stand-in, NOT a
trained embedding model), then every query runs the whole recall cascade
(engine/memory/recall.py: query embedding, stage-1 candidates from the store, ranking, the
token budget). precision@5 = relevant memories among the five recalled / 5; latency is the
cascade's wall time per query, after a warm-up. The last line reads
`memory: precision@5 P, p95 T ms at N memories (store)` for the largest N on the first store.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.learning import KnowledgeStore, Memory
from bench.memory_set import BenchQuery, build

EMBED_BATCH = 256
LOAD_BATCH = 2000
WARM_UP = 20


async def _embed_all(models: Any, memories: list[Memory]) -> list[Memory]:
    from engine.memory.embedder import embed

    out: list[Memory] = []
    for i in range(0, len(memories), EMBED_BATCH):
        chunk = memories[i : i + EMBED_BATCH]
        vectors, note = await embed(models, [m.text for m in chunk])
        if vectors is None:
            raise RuntimeError(f"the stand-in embedder did not answer: {note}")
        out += [m.model_copy(update={"embedding": v}) for m, v in zip(chunk, vectors, strict=True)]
    return out


async def _load(store: KnowledgeStore, memories: list[Memory]) -> float:
    began = time.perf_counter()
    for i in range(0, len(memories), LOAD_BATCH):
        await store.record_memories(memories[i : i + LOAD_BATCH])
    await store.flush()
    count = await store.count_memories()
    if count < len(memories):
        raise RuntimeError(f"the store holds {count} of {len(memories)} memories after loading")
    return time.perf_counter() - began


def _p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, int(0.95 * len(ordered) + 0.5) - 1)]


async def _measure(
    store: KnowledgeStore, models: Any, queries: list[BenchQuery]
) -> tuple[float, float, float]:
    """(precision@5, p50 ms, p95 ms) over `queries` through the whole cascade; prints where
    the time went (the cascade's own stage timings)."""
    from engine.memory.rank import QueryContext
    from engine.memory.recall import recall

    stages: dict[str, list[float]] = {}

    async def one(q: BenchQuery) -> tuple[float, float]:
        began = time.perf_counter()
        found = await recall(
            store,
            models,
            text=q.text,
            language=q.language,
            context=QueryContext(purpose="first", project=q.project, user=q.user),
        )
        ms = (time.perf_counter() - began) * 1000
        if "learning_error" in found["evidence"]:
            raise RuntimeError(found["evidence"]["learning_error"])
        for stage, value in found["evidence"]["ms"].items():
            stages.setdefault(stage, []).append(float(value))
        top = [m["id"] for m in found["memories"]][:5]
        return sum(1 for i in top if i in q.relevant) / 5, ms

    for q in queries[:WARM_UP]:
        await one(q)
    stages.clear()
    results = [await one(q) for q in queries]
    times = [ms for _, ms in results]
    print(
        "  stages (p50 / p95 ms): "
        + ", ".join(
            f"{name} {statistics.median(v):.1f} / {_p95(v):.1f}" for name, v in stages.items()
        ),
        flush=True,
    )
    return statistics.fmean(p for p, _ in results), statistics.median(times), _p95(times)


async def _postgres_store(workdir: Path, name: str) -> tuple[Any, Any]:
    """A fresh database `name` on the bench's embedded PostgreSQL, migrated."""
    import psycopg

    from adapters.database import EmbeddedPostgres, create_engine, libpq_url
    from adapters.learning.postgres import PostgresLearningStore
    from engine.migrate import upgrade

    pg = _SERVERS.get("pg")
    if pg is None:
        pg = EmbeddedPostgres(workdir / "postgres")
        _SERVERS["pg"] = pg
        _SERVERS["pg_url"] = await asyncio.to_thread(pg.start)
    base = _SERVERS["pg_url"]
    async with await psycopg.AsyncConnection.connect(libpq_url(base), autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')  # a bench-made name
    url = base.replace("/postgres?", f"/{name}?")
    await asyncio.to_thread(upgrade, url)
    db = create_engine(url, pool_size=4)
    return PostgresLearningStore(db), db.dispose


async def _neo4j_store(workdir: Path, name: str) -> tuple[Any, Any]:
    """A fresh Neo4j server (its own home), stopped when the size is done."""
    from adapters.learning.neo4j import Neo4jKnowledgeStore
    from tests.neo4j_server import Neo4jServer

    server = Neo4jServer(workdir / f"neo4j-{name}", heap="2g", start_timeout=120)
    await asyncio.to_thread(server.start)
    store = Neo4jKnowledgeStore(
        server.uri, batch_size=LOAD_BATCH, buffer_size=4 * LOAD_BATCH, flush_timeout=300.0
    )

    async def close() -> None:
        await store.close()
        await asyncio.to_thread(server.stop)

    return store, close


_SERVERS: dict[str, Any] = {}
STORES = {"postgres": _postgres_store, "neo4j": _neo4j_store}


async def bench(
    sizes: list[int], stores: list[str], n_queries: int, seed: int, workdir: Path
) -> list[tuple[str, int, float, float]]:
    import yaml

    from adapters.models import ModelRouter, ModelsConfig, single_endpoint_config
    from standin.runner import StandinThread

    standin = StandinThread().start()
    models = ModelRouter(
        ModelsConfig.model_validate(
            yaml.safe_load(single_endpoint_config(standin.api_base, ["coder", "embedder"]))
        )
    )
    results = []
    try:
        for n in sizes:
            began = time.perf_counter()
            memories, queries = build(n, seed)
            queries = queries[:n_queries] if n_queries else queries
            memories = await _embed_all(models, memories)
            print(
                f"{n} memories, {len(queries)} queries: built and embedded in "
                f"{time.perf_counter() - began:.1f} s",
                flush=True,
            )
            for name in stores:
                store, close = await STORES[name](workdir, f"mem{n}")
                try:
                    load_s = await _load(store, memories)
                    p5, p50, p95 = await _measure(store, models, queries)
                finally:
                    await close()
                results.append((name, n, p5, p95))
                print(
                    f"{name:<8} {n:>7} memories: precision@5 {p5:.3f}, recall p50 {p50:.1f} ms, "
                    f"p95 {p95:.1f} ms (loaded in {load_s:.1f} s)",
                    flush=True,
                )
    finally:
        standin.stop()
        pg = _SERVERS.pop("pg", None)
        if pg is not None:
            await asyncio.to_thread(pg.stop)
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line entry; exit 0 when the first store meets precision@5 ≥ 0.85 and p95 ≤ 50
    ms at the largest size."""
    parser = argparse.ArgumentParser(prog="weavergen memory-bench", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="memory counts, comma-separated")
    parser.add_argument("--stores", default="postgres,neo4j", help="postgres, neo4j or both")
    parser.add_argument("--queries", type=int, default=0, help="queries per size (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = [s for s in stores if s not in STORES]
    if unknown:
        parser.error(f"unknown store(s) {', '.join(unknown)}; known: {', '.join(STORES)}")
    workdir = Path(tempfile.mkdtemp(prefix="weavergen-memory-bench-"))
    workdir.chmod(0o755)  # the embedded PostgreSQL runs as its own user
    try:
        results = asyncio.run(bench(sizes, stores, args.queries, args.seed, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    name, n, p5, p95 = next(r for r in results if r[0] == stores[0] and r[1] == sizes[-1])
    print(f"memory: precision@5 {p5:.2f}, p95 {p95:.0f} ms at {n} memories ({name})")
    return 0 if p5 >= 0.85 and p95 <= 50 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
