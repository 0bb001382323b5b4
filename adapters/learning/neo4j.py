"""The production `KnowledgeStore`: relationships in Neo4j (5.x), over Bolt with the async driver.

The graph, and every statement this store sends, are in cypher.py; memories, their indexes and
queries in neo4j_memory.py. Fix and Correction ids are content hashes computed when the record
is made, so a batch that is sent again after a lost acknowledgement changes nothing (every
write is a MERGE; recall counts are the one exception, see neo4j_memory.py).

Writes never block a run and never raise: `record_*` hand the record to the shared buffered
sender (buffered.py: bounded buffer, background batches, backoff, nothing lost silently), which
sends a batch as one transaction. A batch the server rejects (not a connection problem) is
sent again record by record: a record it rejects on its own is tried three times, then dropped
and counted, so one bad record cannot hold back the rest.

Queries (`fixes_for`, `corrections`, `fix_paths`, the memory queries) raise
`LearningUnavailable`, naming the URI, when Neo4j cannot answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from neo4j import AsyncDriver, AsyncGraphDatabase
from neo4j.exceptions import (
    AuthError,
    DatabaseUnavailable,
    DriverError,
    Forbidden,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from adapters.learning import cypher
from adapters.learning.buffered import BufferedStore, SendFailed
from adapters.learning.contract import (
    Correction,
    FailureFix,
    KnowledgeStore,
    RunOutcome,
    as_utc,
)
from adapters.learning.neo4j_memory import Neo4jMemoryMixin
from adapters.learning.neo4j_memory_cypher import MEMORY_SCHEMA, MEMORY_WRITES

# errors that say "Neo4j is not reachable / not able right now": keep the records, back off
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ServiceUnavailable,
    SessionExpired,
    DatabaseUnavailable,
    TransientError,
    AuthError,
    Forbidden,
    DriverError,
    OSError,
    TimeoutError,
)
_QUERY_ERRORS: tuple[type[BaseException], ...] = (Neo4jError, *_UNAVAILABLE)
# server errors about the server, not the record: no such database, no permission, try later
_UNAVAILABLE_CODES = ("Neo.ClientError.Database.", "Neo.ClientError.Security.", "Neo.Transient")
_MAX_ITEM_ATTEMPTS = 3  # a record the server itself rejects this many times is dropped
_WRITES = {**cypher.WRITES, **MEMORY_WRITES}  # the statement of each kind of record, in order


_key = cypher.node_key


def _native(value: Any) -> datetime:
    """neo4j.time.DateTime -> datetime (aware, UTC)."""
    native = value.to_native() if hasattr(value, "to_native") else value
    return as_utc(native)


def _unavailable(exc: BaseException) -> bool:
    """True when Neo4j cannot take any record now; False when it rejects these records."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    code = getattr(exc, "code", None) or ""
    return isinstance(exc, Neo4jError) and code.startswith(_UNAVAILABLE_CODES)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


@dataclass(eq=False)
class _Pending:
    """One record waiting to be sent: its kind (a key of `cypher.WRITES`) and its row."""

    kind: str
    row: dict[str, Any]
    attempts: int = 0  # times the server rejected it on its own


class Neo4jKnowledgeStore(Neo4jMemoryMixin, BufferedStore[_Pending], KnowledgeStore):
    """`KnowledgeStore` on Neo4j (memories: neo4j_memory.py). Safe to construct without a
    running event loop; the driver and the background sender start on first use, in the loop
    that uses the store."""

    backend = "neo4j"
    server = "Neo4j"

    def __init__(
        self,
        uri: str,
        *,
        buffer_size: int = 10000,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        connect_timeout: float = 3.0,
        send_timeout: float = 15.0,
        flush_timeout: float = 10.0,
        query_timeout: float = 10.0,
        max_backoff: float = 10.0,
        user: str = "neo4j",
        password: str | None = None,
        database: str | None = None,
    ) -> None:
        super().__init__(
            uri,
            buffer_size=buffer_size,
            batch_size=batch_size,
            flush_interval=flush_interval,
            flush_timeout=flush_timeout,
            max_backoff=max_backoff,
        )
        self.uri = uri
        self.database = database
        self.connect_timeout = connect_timeout
        self.send_timeout = send_timeout
        self.query_timeout = query_timeout
        self._auth = (user, password) if password is not None else None
        self._driver: AsyncDriver | None = None
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()

    # -- the KnowledgeStore interface --------------------------------------------------------

    async def record_run(self, outcome: RunOutcome, request: str = "") -> None:
        self._add(
            "run",
            {
                "run_id": outcome.run_id,
                "success": outcome.success,
                "at": as_utc(outcome.at),
                "duration_ms": outcome.duration_ms,
                "tokens_in": outcome.tokens_in,
                "tokens_out": outcome.tokens_out,
                "iterations": outcome.iterations,
                "score": outcome.score,
                "pattern": outcome.pattern,
                "task_type": outcome.task_type,
                "language": outcome.language,
                "request": request,
                "request_id": _key(request) if request else None,
            },
        )

    async def record_failure_fix(self, item: FailureFix) -> None:
        at = as_utc(item.at)
        self._add(
            "failure_fix",
            {
                "run_id": item.run_id,
                "signature": item.signature,
                "signature_id": _key(item.signature),
                "language": item.language,
                "pattern": item.pattern,
                "request": item.request,
                "request_id": _key(item.request) if item.request else None,
                "fix": item.fix,
                "model_group": item.model_group,
                "fix_id": _key(
                    item.run_id, item.signature, item.language, item.fix, at, item.model_group
                ),
                "at": at,
                "seq": time.time_ns(),
            },
        )

    async def record_correction(self, item: Correction) -> None:
        at = as_utc(item.at)
        self._add(
            "correction",
            {
                "run_id": item.run_id,
                "id": _key(item.run_id, item.step, item.approved, item.comment, at),
                "step": item.step,
                "approved": item.approved,
                "comment": item.comment,
                "at": at,
                "seq": time.time_ns(),
            },
        )

    async def fixes_for(
        self, signatures: list[str], language: str, limit: int = 5
    ) -> list[FailureFix]:
        if not signatures or limit <= 0:
            return []
        records = await self._read(
            cypher.READ_FIXES,
            {
                "signature_ids": sorted({_key(s) for s in signatures}),
                "language": language,
                "limit": int(limit),
            },
        )
        return [
            FailureFix(
                run_id=r["run_id"],
                request=r["request"] or "",
                pattern=r["pattern"] or "",
                language=r["language"],
                signature=r["signature"],
                fix=r["fix"],
                model_group=r["model_group"] or "",
                at=_native(r["at"]),
            )
            for r in records
        ]

    async def corrections(self, run_id: str) -> list[Correction]:
        records = await self._read(cypher.READ_CORRECTIONS, {"run_id": run_id})
        return [
            Correction(
                run_id=run_id,
                step=r["step"],
                approved=r["approved"],
                comment=r["comment"] or "",
                at=_native(r["at"]),
            )
            for r in records
        ]

    # -- sending -------------------------------------------------------------------------------

    def _add(self, kind: str, row: dict[str, Any]) -> None:
        self._enqueue(_Pending(kind, row))

    async def _send_batch(self, batch: list[_Pending]) -> None:
        try:
            await self._ensure_schema()
            await self._ensure_vector_indexes([p.row for p in batch if p.kind == "memory"])
        except Exception as exc:
            raise SendFailed(
                f"Neo4j at {self.uri} is unavailable: creating the schema: {_describe(exc)}"
            ) from None
        try:
            await self._write(batch)
        except Exception as exc:
            if _unavailable(exc):
                raise SendFailed(self._unavailable_message(exc)) from None
            if not isinstance(exc, Neo4jError):
                raise
            # the server rejected the batch: find the record(s) it rejects, send the rest
            await self._send_singly(batch, exc)

    async def _send_singly(self, items: list[_Pending], batch_error: Neo4jError) -> None:
        """Send a rejected batch record by record. A record the server rejects on its own is
        kept for a later try and dropped at its third rejection; the others go through. When
        every record of a larger batch is rejected, the server is the problem, not the
        records: all are kept and nothing is counted against them."""
        self._log.warning(
            "Neo4j at %s rejected a batch of %d learning records (%s); sending them one by one",
            self.uri,
            len(items),
            _describe(batch_error),
        )
        rejected: list[tuple[_Pending, Neo4jError]] = []
        for i, item in enumerate(items):
            try:
                await self._write([item])
            except Exception as exc:
                if isinstance(exc, Neo4jError) and not _unavailable(exc):
                    rejected.append((item, exc))
                    continue
                if _unavailable(exc):
                    kept = [p for p, _ in rejected] + items[i:]
                    raise SendFailed(self._unavailable_message(exc), retry=kept) from None
                raise  # a bug: the whole batch is kept (sending a record again is harmless)
        if not rejected:
            return
        error = _describe(rejected[-1][1])
        if len(items) > 1 and len(rejected) == len(items):
            raise SendFailed(f"Neo4j at {self.uri} rejects every record of a batch: {error}")
        keep: list[_Pending] = []
        for item, rejection in rejected:
            item.attempts += 1
            if item.attempts >= _MAX_ITEM_ATTEMPTS:
                why = f"Neo4j rejects a {item.kind} record: {_describe(rejection)}"
                self._count_dropped(1, why, always=True)
            else:
                keep.append(item)
        if keep:
            raise SendFailed(f"Neo4j at {self.uri} rejects a record: {error}", retry=keep)

    def _unavailable_message(self, exc: BaseException) -> str:
        return f"Neo4j at {self.uri} is unavailable for learning records: {_describe(exc)}"

    async def _close_backend(self) -> None:
        if self._driver is not None:
            with contextlib.suppress(Exception):
                await self._driver.close()
            self._driver = None

    def _get_driver(self) -> AsyncDriver:
        if self._driver is None:
            self._driver = AsyncGraphDatabase.driver(
                self.uri,
                auth=self._auth,
                connection_timeout=self.connect_timeout,
                connection_acquisition_timeout=self.connect_timeout + 2.0,
                max_transaction_retry_time=0.0,  # this store retries on its own terms
                max_connection_pool_size=10,
                liveness_check_timeout=60.0,  # test connections idle for a minute before use
                notifications_min_severity="OFF",
            )
        return self._driver

    async def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        async with self._schema_lock:
            if self._schema_ready:
                return
            try:
                async with asyncio.timeout(self.send_timeout):
                    async with self._get_driver().session(database=self.database) as session:
                        for statement in (*cypher.SCHEMA, *MEMORY_SCHEMA):
                            result = await session.run(statement)
                            await result.consume()
            except Neo4jError as exc:
                # not allowed to manage the schema (a restricted user): work without it
                if not isinstance(exc, Forbidden) and _unavailable(exc):
                    raise
                self._log.error(
                    "Neo4j at %s: cannot create the learning constraints and indexes (%s); "
                    "continuing without them (slower queries, no uniqueness checks)",
                    self.uri,
                    _describe(exc),
                )
            self._schema_ready = True

    async def _write(self, items: list[_Pending]) -> None:
        """Send records in one transaction, one UNWIND statement per kind."""
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_kind.setdefault(item.kind, []).append(item.row)
        async with asyncio.timeout(self.send_timeout):
            async with self._get_driver().session(database=self.database) as session:
                tx = await session.begin_transaction(timeout=self.send_timeout)
                async with tx:
                    for kind, statement in _WRITES.items():
                        if kind not in by_kind:
                            continue
                        result = await tx.run(statement, rows=by_kind[kind])
                        await result.consume()
                    await tx.commit()

    async def _read(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            async with asyncio.timeout(self.query_timeout):
                await self._ensure_schema()
                try:
                    records = await self._read_once(query, params)
                except (ServiceUnavailable, SessionExpired):
                    # once more: the pool may have held connections from before a restart
                    records = await self._read_once(query, params)
        except _QUERY_ERRORS as exc:
            raise self._query_failed(
                f"Neo4j at {self.uri} could not answer: {_describe(exc)}"
            ) from None
        self._query_ok()
        return records

    async def _read_once(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with self._get_driver().session(database=self.database) as session:
            tx = await session.begin_transaction(timeout=self.query_timeout)
            async with tx:
                result = await tx.run(query, params)
                records = [record.data() async for record in result]
                await tx.commit()
        return records
