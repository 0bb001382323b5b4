"""The production `KnowledgeStore`: relationships in Neo4j (5.x), over Bolt with the async driver.

Graph (every node key is unique, enforced by constraints this store creates on first use):

    (:Run {id, success, at, duration_ms, tokens_in, tokens_out, iterations, score})
    (:Run)-[:FOR]->(:Request {id: sha256(text), text})
    (:Run)-[:USED]->(:Pattern {name})
    (:Run)-[:OF_TYPE]->(:TaskType {name})
    (:Run)-[:IN]->(:Language {name})
    (:Run)-[:HIT {at, language}]->(:FailureSignature {id: sha256(text), text})
    (:Run)-[:PRODUCED]->(:Fix {id, summary, at, language, seq})-[:RESOLVES]->(:FailureSignature)
    (:Run)-[:CORRECTED]->(:Correction {id, step, approved, comment, at, seq})

Request and FailureSignature are keyed by a hash of their text: Neo4j cannot index a string
property over about 8 KB, and a unique constraint on the text itself would reject long
requests or signatures. Fix and Correction ids are content hashes computed when the record is
made, so a batch that is sent again after a lost acknowledgement changes nothing (every write
is a MERGE). Corrections are nodes (not relationship properties) so later facts, such as the
step they corrected, can point at them. `seq` (nanoseconds when recorded) orders records whose
`at` is equal.

Writes never block a run and never raise: `record_*` put the record in a bounded buffer that a
background task sends in batches (one transaction per batch, one UNWIND statement per kind),
retrying with exponential backoff while Neo4j is down or slow. When the buffer is full the
oldest record is dropped, counted in `health().dropped` and logged as an error. A record that
the server rejects on its own (not a connection problem) is tried three times, then dropped
and counted, so one bad record cannot hold back the rest. Every value reaches Neo4j as a query
parameter; no Cypher is built from values.

Queries (`fixes_for`, `corrections`) raise `LearningUnavailable`, naming the URI, when Neo4j
cannot answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
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

from adapters.learning import (
    Correction,
    FailureFix,
    LearningUnavailable,
    RunOutcome,
    StoreHealth,
)

log = logging.getLogger(__name__)

# -- schema ------------------------------------------------------------------------------------

SCHEMA: tuple[str, ...] = (
    "CREATE CONSTRAINT wg_run_id IF NOT EXISTS FOR (n:Run) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_request_id IF NOT EXISTS FOR (n:Request) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_pattern_name IF NOT EXISTS FOR (n:Pattern) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT wg_task_type_name IF NOT EXISTS FOR (n:TaskType) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT wg_language_name IF NOT EXISTS FOR (n:Language) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT wg_failure_signature_id IF NOT EXISTS "
    "FOR (n:FailureSignature) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_fix_id IF NOT EXISTS FOR (n:Fix) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_correction_id IF NOT EXISTS FOR (n:Correction) REQUIRE n.id IS UNIQUE",
    # "newest fixes in a language" without a signature to start from
    "CREATE INDEX wg_fix_language_at IF NOT EXISTS FOR (n:Fix) ON (n.language, n.at)",
)

# -- writes: one UNWIND statement per kind of record -------------------------------------------

_IF = "FOREACH (_ IN CASE WHEN {cond} THEN [1] ELSE [] END | {body})"
_LINK_REQUEST = _IF.format(
    cond="row.request_id IS NOT NULL",
    body="MERGE (q:Request {id: row.request_id}) ON CREATE SET q.text = row.request "
    "MERGE (r)-[:FOR]->(q)",
)
_LINK_PATTERN = _IF.format(
    cond="row.pattern <> ''",
    body="MERGE (p:Pattern {name: row.pattern}) MERGE (r)-[:USED]->(p)",
)
_LINK_LANGUAGE = _IF.format(
    cond="row.language <> ''",
    body="MERGE (l:Language {name: row.language}) MERGE (r)-[:IN]->(l)",
)
_LINK_TASK_TYPE = _IF.format(
    cond="row.task_type <> ''",
    body="MERGE (t:TaskType {name: row.task_type}) MERGE (r)-[:OF_TYPE]->(t)",
)

WRITE_RUNS = f"""
UNWIND $rows AS row
MERGE (r:Run {{id: row.run_id}})
SET r.success = row.success, r.at = row.at, r.duration_ms = row.duration_ms,
    r.tokens_in = row.tokens_in, r.tokens_out = row.tokens_out,
    r.iterations = row.iterations, r.score = row.score
{_LINK_PATTERN}
{_LINK_TASK_TYPE}
{_LINK_LANGUAGE}
{_LINK_REQUEST}
"""

WRITE_FAILURE_FIXES = f"""
UNWIND $rows AS row
MERGE (r:Run {{id: row.run_id}})
MERGE (s:FailureSignature {{id: row.signature_id}}) ON CREATE SET s.text = row.signature
MERGE (r)-[h:HIT]->(s) ON CREATE SET h.at = row.at, h.language = row.language
{_LINK_PATTERN}
{_LINK_LANGUAGE}
{_LINK_REQUEST}
FOREACH (_ IN CASE WHEN row.fix <> '' THEN [1] ELSE [] END |
  MERGE (f:Fix {{id: row.fix_id}})
    ON CREATE SET f.summary = row.fix, f.at = row.at, f.language = row.language, f.seq = row.seq
  MERGE (r)-[:PRODUCED]->(f)
  MERGE (f)-[:RESOLVES]->(s))
"""

WRITE_CORRECTIONS = """
UNWIND $rows AS row
MERGE (r:Run {id: row.run_id})
MERGE (c:Correction {id: row.id})
  ON CREATE SET c.step = row.step, c.approved = row.approved, c.comment = row.comment,
                c.at = row.at, c.seq = row.seq
MERGE (r)-[:CORRECTED]->(c)
"""

_WRITES = {"run": WRITE_RUNS, "failure_fix": WRITE_FAILURE_FIXES, "correction": WRITE_CORRECTIONS}

# -- queries -----------------------------------------------------------------------------------

READ_FIXES = """
MATCH (s:FailureSignature)<-[:RESOLVES]-(f:Fix)
WHERE s.id IN $signature_ids AND f.language = $language AND f.summary <> ''
WITH s, f ORDER BY f.at DESC, f.seq DESC LIMIT $limit
MATCH (r:Run)-[:PRODUCED]->(f)
OPTIONAL MATCH (r)-[:FOR]->(q:Request)
OPTIONAL MATCH (r)-[:USED]->(p:Pattern)
WITH s, f, r, head(collect(DISTINCT q.text)) AS request, head(collect(DISTINCT p.name)) AS pattern
RETURN r.id AS run_id, request, pattern, f.language AS language, s.text AS signature,
       f.summary AS fix, f.at AS at
ORDER BY f.at DESC, f.seq DESC
"""

READ_CORRECTIONS = """
MATCH (:Run {id: $run_id})-[:CORRECTED]->(c:Correction)
RETURN c.step AS step, c.approved AS approved, c.comment AS comment, c.at AS at
ORDER BY c.at, c.seq
"""

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


def _key(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _native(value: Any) -> datetime:
    """neo4j.time.DateTime -> datetime (aware, UTC)."""
    native = value.to_native() if hasattr(value, "to_native") else value
    return _utc(native)


def _unavailable(exc: BaseException) -> bool:
    """True when Neo4j cannot take any record now; False when it rejects these records."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    code = getattr(exc, "code", None) or ""
    return isinstance(exc, Neo4jError) and code.startswith(_UNAVAILABLE_CODES)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


@dataclass
class _Pending:
    kind: str  # a key of _WRITES
    row: dict[str, Any]
    attempts: int = 0


@dataclass
class _Batch:
    items: list[_Pending] = field(default_factory=list)

    def statements(self) -> list[tuple[str, list[dict[str, Any]]]]:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for item in self.items:
            by_kind.setdefault(item.kind, []).append(item.row)
        # runs first: the others MERGE the same Run nodes
        order = ("run", "failure_fix", "correction")
        return [(_WRITES[k], by_kind[k]) for k in order if k in by_kind]


class Neo4jKnowledgeStore:
    """`KnowledgeStore` on Neo4j. Safe to construct without a running event loop; the driver
    and the background sender start on first use, in the loop that uses the store."""

    backend = "neo4j"

    def __init__(
        self,
        uri: str,
        *,
        user: str = "neo4j",
        password: str | None = None,
        database: str | None = None,
        buffer_size: int = 10000,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        connect_timeout: float = 3.0,
        send_timeout: float = 15.0,
        flush_timeout: float = 10.0,
        query_timeout: float = 10.0,
        max_backoff: float = 10.0,
    ) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self.uri = uri
        self.database = database
        self.buffer_size = buffer_size
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.connect_timeout = connect_timeout
        self.send_timeout = send_timeout
        self.flush_timeout = flush_timeout
        self.query_timeout = query_timeout
        self.max_backoff = max_backoff
        self._auth = (user, password) if password is not None else None
        self._driver: AsyncDriver | None = None
        self._buffer: deque[_Pending] = deque()
        self._inflight: list[_Pending] = []
        self._dropped = 0
        self._last_error: str | None = None
        self._last_drop_log = 0.0
        self._schema_ready = False
        self._schema_lock: asyncio.Lock | None = None
        self._send_lock: asyncio.Lock | None = None
        self._wake: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None
        self._backoff = 0.0
        self._closed = False

    # -- the KnowledgeStore interface --------------------------------------------------------

    async def record_run(self, outcome: RunOutcome, request: str = "") -> None:
        self._enqueue(
            "run",
            {
                "run_id": outcome.run_id,
                "success": outcome.success,
                "at": _utc(outcome.at),
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
        at = _utc(item.at)
        self._enqueue(
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
                "fix_id": _key(item.run_id, item.signature, item.language, item.fix, at),
                "at": at,
                "seq": time.time_ns(),
            },
        )

    async def record_correction(self, item: Correction) -> None:
        at = _utc(item.at)
        self._enqueue(
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
            READ_FIXES,
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
                at=_native(r["at"]),
            )
            for r in records
        ]

    async def corrections(self, run_id: str) -> list[Correction]:
        records = await self._read(READ_CORRECTIONS, {"run_id": run_id})
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

    async def flush(self) -> None:
        """Send what is buffered now: two tries at most, within `flush_timeout`. Never raises
        (what could not be sent stays buffered for the background sender)."""
        if not self._pending():
            return
        try:
            async with asyncio.timeout(self.flush_timeout):
                # a second try at once: the first can meet a connection the server has since
                # closed (a restart); the driver discards such connections when one fails
                for _ in range(2):
                    if await self._send_all():
                        self._backoff = 0.0
                        break
        except TimeoutError:
            self._note_failure(f"flush gave up after {self.flush_timeout:.1f} s")
        except Exception as exc:  # never fail the caller; the sender keeps trying
            self._note_failure(_describe(exc))
            log.exception("learning records for Neo4j at %s: flush failed", self.uri)

    async def close(self) -> None:
        """Flush (bounded), stop the sender, close the driver. Records still unsent are lost
        and counted in `health().dropped`."""
        if self._closed:
            return
        await self.flush()
        self._closed = True
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
            self._sender = None
        lost = self._pending()
        if lost:
            self._buffer.clear()
            self._inflight = []
            self._count_dropped(lost, "the store was closed before Neo4j took them", always=True)
        if self._driver is not None:
            with contextlib.suppress(Exception):
                await self._driver.close()
            self._driver = None

    def health(self) -> StoreHealth:
        return StoreHealth(
            backend=self.backend,
            healthy=self._last_error is None,
            buffered=self._pending(),
            dropped=self._dropped,
            last_error=self._last_error,
        )

    # -- buffer --------------------------------------------------------------------------------

    def _pending(self) -> int:
        return len(self._buffer) + len(self._inflight)

    def _enqueue(self, kind: str, row: dict[str, Any]) -> None:
        if self._closed:
            self._count_dropped(1, "the store is closed", always=True)
            return
        self._buffer.append(_Pending(kind, row))
        self._trim()
        self._ensure_sender()
        if self._wake is not None and len(self._buffer) >= self.batch_size:
            self._wake.set()

    def _trim(self) -> None:
        over = self._pending() - self.buffer_size
        n = 0
        while over > 0 and self._buffer:
            self._buffer.popleft()
            over -= 1
            n += 1
        if n:
            self._count_dropped(n, f"the buffer is full ({self.buffer_size} records)")

    def _count_dropped(self, n: int, why: str, *, always: bool = False) -> None:
        """Count lost records and log it as an error (overflow at most every 10 s)."""
        first = self._dropped == 0
        self._dropped += n
        now = time.monotonic()
        if always or first or now - self._last_drop_log >= 10.0:
            self._last_drop_log = now
            log.error(
                "LEARNING DATA LOST: dropped %d record(s) for Neo4j at %s: %s "
                "(%d dropped so far; last error: %s)",
                n,
                self.uri,
                why,
                self._dropped,
                self._last_error,
            )

    def _ensure_sender(self) -> None:
        if self._sender is not None and not self._sender.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next flush() sends
            return
        self._wake = asyncio.Event()
        self._sender = loop.create_task(self._send_loop(), name="neo4j-learning-sender")

    def _locks(self) -> tuple[asyncio.Lock, asyncio.Lock]:
        if self._send_lock is None or self._schema_lock is None:
            self._send_lock, self._schema_lock = asyncio.Lock(), asyncio.Lock()
        return self._send_lock, self._schema_lock

    # -- sending -------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        assert self._wake is not None
        while not self._closed:
            delay = self._backoff or self.flush_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            if not self._pending():
                continue
            try:
                ok = await self._send_all()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the sender alive whatever happens
                self._note_failure(_describe(exc))
                log.exception("learning records for Neo4j at %s: sender error", self.uri)
                ok = False
            if ok:
                self._backoff = 0.0
            else:
                self._backoff = min(self.max_backoff, max(0.2, self._backoff * 2))

    async def _send_all(self) -> bool:
        """Send batches until the buffer is empty; False at the first failure."""
        send_lock, _ = self._locks()
        async with send_lock:
            while self._buffer:
                if not await self._send_one_batch():
                    return False
            return True

    async def _send_one_batch(self) -> bool:
        try:
            await self._ensure_schema()
        except Exception as exc:  # nothing taken from the buffer yet
            self._note_failure(f"creating the schema: {_describe(exc)}")
            return False
        n = min(self.batch_size, len(self._buffer))
        self._inflight = [self._buffer.popleft() for _ in range(n)]
        try:
            await self._write(_Batch(self._inflight))
        except Exception as exc:
            if _unavailable(exc):
                self._requeue(exc)
                return False
            if isinstance(exc, Neo4jError):
                # the server rejected the batch: find the record(s) it rejects, send the rest
                return await self._send_singly(exc)
            self._requeue(exc)
            raise
        except BaseException as exc:  # cancelled (flush timeout): keep the records
            self._requeue(exc)
            raise
        self._inflight = []
        self._sent_ok()
        return True

    async def _send_singly(self, batch_error: Neo4jError) -> bool:
        """Send a rejected batch record by record. A record the server rejects on its own is
        kept for a later try and dropped at its third rejection; the others go through. When
        every record of a larger batch is rejected, the server is the problem, not the
        records: all are kept and nothing is counted against them."""
        items, self._inflight = self._inflight, []
        log.warning(
            "Neo4j at %s rejected a batch of %d learning records (%s); sending them one by one",
            self.uri,
            len(items),
            _describe(batch_error),
        )
        rejected: list[tuple[_Pending, Neo4jError]] = []
        for i, item in enumerate(items):
            self._inflight = [p for p, _ in rejected] + items[i:]
            try:
                await self._write(_Batch([item]))
            except Exception as exc:
                if isinstance(exc, Neo4jError) and not _unavailable(exc):
                    rejected.append((item, exc))
                    continue
                self._requeue(exc)
                if _unavailable(exc):
                    return False
                raise
            except BaseException as exc:
                self._requeue(exc)
                raise
        self._inflight = []
        if not rejected:
            self._sent_ok()
            return True
        if len(items) > 1 and len(rejected) == len(items):
            self._inflight = items
            self._requeue(rejected[-1][1])
            return False
        keep: list[_Pending] = []
        for item, error in rejected:
            item.attempts += 1
            self._last_error = _describe(error)
            if item.attempts >= _MAX_ITEM_ATTEMPTS:
                self._count_dropped(
                    1, f"Neo4j rejects a {item.kind} record: {_describe(error)}", always=True
                )
            else:
                keep.append(item)
        if keep:
            self._inflight = keep
            self._requeue(rejected[-1][1])
            return False
        return True

    def _requeue(self, exc: BaseException) -> None:
        """Put the in-flight records back at the front, oldest first; trim if over capacity."""
        items, self._inflight = self._inflight, []
        self._buffer.extendleft(reversed(items))
        self._trim()
        if not isinstance(exc, asyncio.CancelledError):
            self._note_failure(_describe(exc))

    def _note_failure(self, error: str) -> None:
        if self._last_error is None:
            log.warning(
                "Neo4j at %s is unavailable for learning records (%s); buffering %d",
                self.uri,
                error,
                self._pending(),
            )
        self._last_error = error

    def _sent_ok(self) -> None:
        if self._last_error is not None:
            log.info("Neo4j at %s is reachable again; %d buffered", self.uri, self._pending())
        self._last_error = None

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
        _, schema_lock = self._locks()
        async with schema_lock:
            if self._schema_ready:
                return
            try:
                async with asyncio.timeout(self.send_timeout):
                    async with self._get_driver().session(database=self.database) as session:
                        for statement in SCHEMA:
                            result = await session.run(statement)
                            await result.consume()
            except Neo4jError as exc:
                # not allowed to manage the schema (a restricted user): work without it
                if not isinstance(exc, Forbidden) and _unavailable(exc):
                    raise
                log.error(
                    "Neo4j at %s: cannot create the learning constraints and indexes (%s); "
                    "continuing without them (slower queries, no uniqueness checks)",
                    self.uri,
                    _describe(exc),
                )
            self._schema_ready = True

    async def _write(self, batch: _Batch) -> None:
        async with asyncio.timeout(self.send_timeout):
            async with self._get_driver().session(database=self.database) as session:
                tx = await session.begin_transaction(timeout=self.send_timeout)
                async with tx:
                    for statement, rows in batch.statements():
                        result = await tx.run(statement, rows=rows)
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
            self._note_failure(_describe(exc))
            raise LearningUnavailable(
                f"Neo4j at {self.uri} could not answer: {_describe(exc)}"
            ) from None
        if not self._pending():
            self._sent_ok()
        return records

    async def _read_once(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with self._get_driver().session(database=self.database) as session:
            tx = await session.begin_transaction(timeout=self.query_timeout)
            async with tx:
                result = await tx.run(query, params)
                records = [record.data() async for record in result]
                await tx.commit()
        return records
