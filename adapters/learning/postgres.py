"""The embedded-default learning store: outcomes and knowledge in PostgreSQL tables.

One class implements both learning roles for this store (over 400 lines), as `influx` and
`neo4j` do for theirs: the contract suite runs each against the same tests. The memories
(postgres_memory.py) and the policy outcomes (postgres_policy.py) are mixed in from modules
of their own."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    case,
    cast,
    func,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.types import TypeEngine

from adapters.learning.contract import (
    MAX_PREDICTION_PAIRS,
    CandidateOutcome,
    Correction,
    DiagramStats,
    ElementStats,
    ElementVisit,
    FailureFix,
    FlowStats,
    FlowTaken,
    IterationOutcome,
    KnowledgeStore,
    LatencyStat,
    LearningUnavailable,
    OutcomeStore,
    PatternStats,
    RunOutcome,
    SeriesPoint,
    StepOutcome,
    StoreHealth,
    as_utc,
    check_bucket_s,
)
from adapters.learning.postgres_memory import PostgresMemories, learning_memories
from adapters.learning.postgres_policy import PostgresPolicies, learning_policy_outcomes
from adapters.write_batch import WriteBatch

log = logging.getLogger(__name__)
learning_metadata = MetaData()

_SQL_TYPES: dict[Any, type[TypeEngine[Any]]] = {
    str: Text,
    bool: Boolean,
    int: Integer,
    float: Float,
}


def _column(name: str, annotation: Any) -> Column[Any]:
    """A column typed as the contract types the field; NULL only where the field may be None.
    A dict field (name → number) is JSONB, empty by default."""
    if get_origin(annotation) is dict:
        return Column(name, JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    kinds = get_args(annotation) or (annotation,)
    kind = next(k for k in kinds if k is not type(None))
    sql_type = DateTime(timezone=True) if kind is datetime else _SQL_TYPES[kind]()
    return Column(name, sql_type, nullable=type(None) in kinds)


def _record_table(
    name: str, record: type[BaseModel], *indexes: Index, extra: tuple[Column[Any], ...] = ()
) -> Table:
    """The table of one kind of record: the key `id`, a column per field of the record in its
    order with `extra` columns and then `at` (when it happened) last, then `indexes`."""
    fields = {n: _column(n, f.annotation) for n, f in record.model_fields.items()}
    at = fields.pop("at")
    key = Column("id", Integer, primary_key=True, autoincrement=True)
    return Table(name, learning_metadata, key, *fields.values(), *extra, at, *indexes)


# The tables hold the contract's records column for column, so a field added to a record
# shows up in `alembic revision --autogenerate` (the inserts write every field).
learning_steps = _record_table("learning_steps", StepOutcome, Index("learning_steps_at_idx", "at"))
_STEP_FIELDS = list(StepOutcome.model_fields)
_INSERT_STEP = (
    f"INSERT INTO learning_steps ({', '.join(_STEP_FIELDS)}) "  # noqa: S608 (the model's fields)
    f"VALUES ({', '.join(['%s'] * len(_STEP_FIELDS))})"
)
learning_runs = _record_table(
    "learning_runs",
    RunOutcome,
    Index("learning_runs_kind_idx", "task_type", "language", "pattern"),
    extra=(Column("request", Text, nullable=False, server_default=""),),
)
learning_iterations = _record_table(
    "learning_iterations",
    IterationOutcome,
    Index("learning_iterations_sig_idx", "signature", "language"),
)
learning_fixes = _record_table(
    "learning_fixes", FailureFix, Index("learning_fixes_sig_idx", "signature", "language")
)
learning_corrections = _record_table(
    "learning_corrections", Correction, Index("learning_corrections_run_idx", "run_id")
)
# created by migration 0004
learning_candidates = _record_table(
    "learning_candidates",
    CandidateOutcome,
    Index("learning_candidates_kind_idx", "model_group", "task_type", "language"),
    Index("learning_candidates_at_idx", "at"),
)
# created by migration 0012: what `element_stats` aggregates, found by diagram and time
learning_visits = _record_table(
    "learning_visits", ElementVisit, Index("learning_visits_diagram_idx", "diagram_id", "at")
)
learning_flows = _record_table(
    "learning_flows", FlowTaken, Index("learning_flows_diagram_idx", "diagram_id", "at")
)
# created by migration 0013 (defined beside the memory queries, in postgres_memory.py)
learning_memories.to_metadata(learning_metadata)
# created by migration 0014 (defined beside the policy queries, in postgres_policy.py)
learning_policy_outcomes.to_metadata(learning_metadata)


def _no_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL; model output sometimes does."""
    return value.replace("\x00", "") if isinstance(value, str) else value


class PostgresLearningStore(PostgresMemories, PostgresPolicies, OutcomeStore, KnowledgeStore):
    """Both learning roles on the run database (no extra server needed)."""

    backend = "postgres"

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db
        self._last_error: str | None = None
        self._dropped = 0

    async def _insert(self, table: Table, *records: dict[str, object]) -> None:
        """Insert records in one statement and transaction."""
        await self._insert_all((table, list(records)))

    async def _insert_all(self, *inserts: tuple[Table, list[dict[str, object]]]) -> None:
        """Insert records into several tables in one transaction (one statement per table)."""
        batches = [
            (table, [{k: _no_nul(v) for k, v in values.items()} for values in records])
            for table, records in inserts
            if records
        ]
        if not batches:
            return
        try:
            async with self.db.begin() as conn:
                for table, rows in batches:
                    await conn.execute(table.insert(), rows)
            self._last_error = None
        except (SQLAlchemyError, OSError) as exc:  # a learning record never fails a run
            self._dropped += sum(len(rows) for _, rows in batches)
            self._last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            log.error(
                "learning record LOST (%s, %d lost so far): %s",
                ", ".join(table.name for table, _ in batches),
                self._dropped,
                self._last_error,
            )

    async def record_step(self, outcome: StepOutcome) -> None:
        await self._insert(learning_steps, outcome.model_dump())

    async def record_steps(self, outcomes: list[StepOutcome]) -> None:
        await self._insert(learning_steps, *(outcome.model_dump() for outcome in outcomes))

    def queue_step(self, batch: WriteBatch, outcome: StepOutcome) -> None:
        """Record a finished step in the transaction that stores its result (this store is on
        the run database): written exactly when the step's result is."""
        values = outcome.model_dump()
        batch.add(_INSERT_STEP, [_no_nul(values[name]) for name in _STEP_FIELDS])

    async def record_run(self, outcome: RunOutcome, request: str = "") -> None:
        await self._insert(learning_runs, {**outcome.model_dump(), "request": request[:2000]})

    async def record_iteration(self, outcome: IterationOutcome) -> None:
        await self._insert(learning_iterations, outcome.model_dump())

    async def record_candidate(self, outcome: CandidateOutcome) -> None:
        await self._insert(learning_candidates, outcome.model_dump())

    async def record_visits(self, visits: list[ElementVisit], flows: list[FlowTaken]) -> None:
        await self._insert_all(
            (learning_visits, [v.model_dump() for v in visits]),
            (learning_flows, [f.model_dump() for f in flows]),
        )

    async def record_failure_fix(self, item: FailureFix) -> None:
        await self._insert(learning_fixes, item.model_dump())

    async def record_correction(self, item: Correction) -> None:
        await self._insert(learning_corrections, item.model_dump())

    async def pattern_stats(self, task_type: str, language: str) -> list[PatternStats]:
        q = (
            select(
                learning_runs.c.pattern,
                func.sum(case((learning_runs.c.success, 1), else_=0)),
                func.sum(case((learning_runs.c.success, 0), else_=1)),
            )
            .where(learning_runs.c.task_type == task_type, learning_runs.c.language == language)
            .group_by(learning_runs.c.pattern)
            .order_by(learning_runs.c.pattern)
        )
        rows = await self._query(q)
        return [PatternStats(pattern=p, successes=int(s), failures=int(f)) for p, s, f in rows]

    async def iteration_stats(self, signature: str, language: str) -> tuple[int, int]:
        q = select(
            func.coalesce(func.sum(case((learning_iterations.c.helped, 1), else_=0)), 0),
            func.count(),
        ).where(
            learning_iterations.c.signature == signature, learning_iterations.c.language == language
        )
        [(helped, total)] = await self._query(q)
        return int(helped), int(total)

    async def run_series(self, since: datetime, bucket_s: int) -> list[SeriesPoint]:
        bucket_s = check_bucket_s(bucket_s)
        runs = learning_runs
        # the bucket's number since the epoch: floor(seconds since the epoch / bucket_s)
        number = cast(
            func.floor(func.extract("epoch", runs.c.at) / bucket_s),
            BigInteger,
        ).label("number")
        bucketed = (
            select(runs.c.pattern, runs.c.success, number)
            .where(runs.c.at >= as_utc(since))
            .subquery()
        )
        q = select(
            bucketed.c.number,
            bucketed.c.pattern,
            func.count(),
            func.sum(case((bucketed.c.success, 1), else_=0)),
        ).group_by(bucketed.c.number, bucketed.c.pattern)
        rows = await self._query(q)
        points = [
            SeriesPoint(
                pattern=pattern,
                bucket=datetime.fromtimestamp(int(n) * bucket_s, UTC),
                runs=int(total),
                successes=int(ok),
            )
            for n, pattern, total, ok in rows
        ]
        # sorted here, not by the database's collation, so every backend orders alike
        return sorted(points, key=lambda p: (p.bucket, p.pattern))

    async def model_latency(self, since: datetime) -> list[LatencyStat]:
        steps = learning_steps
        ranked = (
            select(
                steps.c.model_group,
                steps.c.success,
                steps.c.duration_ms,
                func.row_number()
                .over(partition_by=steps.c.model_group, order_by=steps.c.duration_ms)
                .label("rank"),
                func.count().over(partition_by=steps.c.model_group).label("calls"),
            )
            .where(steps.c.at >= as_utc(since), steps.c.model_group != "")
            .subquery()
        )
        # nearest rank as InfluxDB's PERCENTILE(duration_ms, 95) takes it (see LatencyStat)
        p95_rank = func.greatest(1, (ranked.c.calls * 95 + 50) // 100)
        q = select(
            ranked.c.model_group,
            func.count(),
            func.sum(case((ranked.c.success, 0), else_=1)),
            func.avg(ranked.c.duration_ms),
            func.max(ranked.c.duration_ms).filter(ranked.c.rank == p95_rank),
        ).group_by(ranked.c.model_group)
        rows = await self._query(q)
        stats = [
            LatencyStat(
                model_group=group,
                calls=int(calls),
                failures=int(failures),
                mean_ms=float(mean),
                p95_ms=float(p95),
            )
            for group, calls, failures, mean, p95 in rows
        ]
        return sorted(stats, key=lambda s: s.model_group)

    async def element_stats(
        self,
        diagram_id: str,
        since: datetime,
        until: datetime | None = None,
        version: int | None = None,
    ) -> DiagramStats:
        v, f = learning_visits.c, learning_flows.c
        visits_in = [v.diagram_id == diagram_id, v.at >= as_utc(since)]
        flows_in = [f.diagram_id == diagram_id, f.at >= as_utc(since)]
        if until is not None:
            visits_in.append(v.at < as_utc(until))
            flows_in.append(f.at < as_utc(until))
        if version is not None:
            visits_in.append(v.diagram_version == version)
            flows_in.append(f.diagram_version == version)
        timed = v.outcome != "cancelled"  # durations count the visits that were not cancelled
        timed_count = func.count().filter(timed)
        durations = func.array_agg(aggregate_order_by(v.duration_ms, v.duration_ms)).filter(timed)
        # nearest rank as InfluxDB's PERCENTILE(duration_ms, 95) takes it (see LatencyStat)
        sorted_ms = Grouping(type_coerce(durations, ARRAY(Float)))  # (array_agg(...))[rank]
        p95 = sorted_ms[func.greatest(1, (timed_count * 95 + 50) // 100)]
        columns = {
            "visits": func.count(),
            "runs": func.count(v.run_id.distinct()),
            "completed": func.count().filter(v.outcome == "completed"),
            "failed": func.count().filter(v.outcome == "failed"),
            "cancelled": func.count().filter(v.outcome == "cancelled"),
            "incidents": func.count().filter(v.incidents > 0),
            "failures": func.count().filter((v.outcome == "failed") | (v.incidents > 0)),
            "mean_ms": func.avg(v.duration_ms).filter(timed),
            "p95_ms": p95,
            "tokens_in": func.sum(v.tokens_in),
            "tokens_out": func.sum(v.tokens_out),
            "model_ms": func.coalesce(func.sum(v.model_ms), 0.0),
        }
        elements = (
            select(v.element_id, *(column.label(name) for name, column in columns.items()))
            .where(*visits_in)
            .group_by(v.element_id)
        )
        flows = select(f.gateway, f.flow, func.count()).where(*flows_in).group_by(f.gateway, f.flow)
        try:
            async with self.db.connect() as conn:
                element_rows = (await conn.execute(elements)).mappings().all()
                flow_rows = (await conn.execute(flows)).all()
        except (SQLAlchemyError, OSError) as exc:
            raise LearningUnavailable(f"learning tables in PostgreSQL: {exc}") from None
        # sorted here, not by the database's collation, so every backend orders alike
        return DiagramStats(
            elements=sorted(
                (ElementStats.model_validate(dict(row)) for row in element_rows),
                key=lambda e: e.element_id,
            ),
            flows=sorted(
                (FlowStats(gateway=g, flow=fl, taken=n) for g, fl, n in flow_rows),
                key=lambda s: (s.gateway, s.flow),
            ),
        )

    async def candidate_stats(
        self, model_group: str, task_type: str, language: str
    ) -> tuple[int, int]:
        c = learning_candidates.c
        q = select(
            func.coalesce(func.sum(case((c.passed, 1), else_=0)), 0),
            func.count(),
        ).where(c.model_group == model_group, c.task_type == task_type, c.language == language)
        [(passed, total)] = await self._query(q)
        return int(passed), int(total)

    async def prediction_pairs(self, since: datetime) -> list[tuple[float, bool]]:
        c = learning_candidates.c
        q = (
            select(c.predicted, c.passed)
            .where(c.at >= as_utc(since), c.predicted.is_not(None))
            .order_by(c.at.desc(), c.id.desc())
            .limit(MAX_PREDICTION_PAIRS)
        )
        rows = await self._query(q)
        return [(float(predicted), bool(passed)) for predicted, passed in reversed(rows)]

    async def prediction_samples(self, since: datetime) -> list[tuple[dict[str, float], bool]]:
        c = learning_candidates.c
        q = (
            select(c.features, c.passed)
            .where(c.at >= as_utc(since), c.features != text("'{}'::jsonb"))
            .order_by(c.at.desc(), c.id.desc())
            .limit(MAX_PREDICTION_PAIRS)
        )
        rows = await self._query(q)
        return [
            ({k: float(v) for k, v in features.items()}, bool(passed))
            for features, passed in reversed(rows)
        ]

    async def fixes_for(
        self, signatures: list[str], language: str, limit: int = 5
    ) -> list[FailureFix]:
        if not signatures:
            return []
        q = (
            select(learning_fixes)
            .where(
                learning_fixes.c.signature.in_(signatures),
                learning_fixes.c.language == language,
                learning_fixes.c.fix != "",
            )
            .order_by(learning_fixes.c.at.desc(), learning_fixes.c.id.desc())
            .limit(limit)
        )
        rows = await self._query(q)
        return [
            FailureFix(
                run_id=r.run_id,
                request=r.request,
                pattern=r.pattern,
                language=r.language,
                signature=r.signature,
                fix=r.fix,
                model_group=r.model_group,
                at=r.at,
            )
            for r in rows
        ]

    async def corrections(self, run_id: str) -> list[Correction]:
        q = (
            select(learning_corrections)
            .where(learning_corrections.c.run_id == run_id)
            .order_by(learning_corrections.c.at, learning_corrections.c.id)
        )
        rows = await self._query(q)
        return [
            Correction(
                run_id=r.run_id, step=r.step, approved=r.approved, comment=r.comment, at=r.at
            )
            for r in rows
        ]

    async def _query(self, q):  # type: ignore[no-untyped-def]
        try:
            async with self.db.connect() as conn:
                return (await conn.execute(q)).all()
        except (SQLAlchemyError, OSError) as exc:
            raise LearningUnavailable(f"learning tables in PostgreSQL: {exc}") from None

    async def flush(self) -> None:
        return None  # writes are immediate

    async def close(self) -> None:
        return None  # the engine owns the connection pool

    def health(self) -> StoreHealth:
        return StoreHealth(
            backend=self.backend,
            healthy=self._last_error is None,
            dropped=self._dropped,
            last_error=self._last_error,
        )
