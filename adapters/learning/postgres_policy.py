"""Policy outcomes in PostgreSQL: the `learning_policy_outcomes` table and the outcome-store
methods that keep and count them (mixed into `PostgresLearningStore`, which owns the
connection pool, the insert that counts lost records and the query that raises
LearningUnavailable). A module of its own: postgres.py is over 400 lines already.

`policy_stats` groups in SQL and cuts to the `MAX_CHOICE_STATS` groups whose latest outcome
is the most recent (ties by the group's values in code-point order, "C" collation, as
Python compares strings); the rows it keeps are sorted here, not by the database's
collation, so every backend orders alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

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
    func,
    select,
)

from adapters.learning.contract import (
    MAX_CHOICE_STATS,
    ChoiceStats,
    PolicyOutcome,
    as_utc,
)

policy_metadata = MetaData()  # postgres.py copies the table into `learning_metadata`
_TEXT = ("policy", "run_id", "task_id", "element", "task_type", "language")
# created by migration 0014; a column per PolicyOutcome field, in its order
learning_policy_outcomes = Table(
    "learning_policy_outcomes",
    policy_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    *(Column(name, Text, nullable=False) for name in _TEXT),
    Column("failure_class", Text, nullable=False),
    Column("choice", Text, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("explored", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("learning_policy_outcomes_kind_idx", "policy", "element", "task_type", "language"),
)
assert ["id", *PolicyOutcome.model_fields] == list(learning_policy_outcomes.c.keys()), (
    "learning_policy_outcomes must hold every PolicyOutcome field, in its order"
)
# the columns a row of `policy_stats` is grouped by (and sorted by)
GROUP = ("element", "task_type", "language", "failure_class", "choice")


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: stored values lost theirs, so filters do too."""
    return value.replace("\x00", "")


class PostgresPolicies:
    """Policy outcomes for `PostgresLearningStore`: a write that fails is counted in
    `health()`, never raised; a query the server does not answer raises LearningUnavailable."""

    if TYPE_CHECKING:  # PostgresLearningStore's

        async def _insert(self, table: Table, *records: dict[str, object]) -> None: ...
        async def _query(self, q: Any) -> Any: ...

    async def record_policy(self, outcome: PolicyOutcome) -> None:
        await self._insert(learning_policy_outcomes, outcome.model_dump())

    async def policy_stats(
        self,
        policy: str,
        *,
        element: str | None = None,
        task_type: str | None = None,
        language: str | None = None,
        failure_class: str | None = None,
        since: datetime | None = None,
    ) -> list[ChoiceStats]:
        t = learning_policy_outcomes.c
        where = [t.policy == _no_nul(policy)]
        filters = {
            "element": element,
            "task_type": task_type,
            "language": language,
            "failure_class": failure_class,
        }
        where += [t[name] == _no_nul(value) for name, value in filters.items() if value is not None]
        if since is not None:
            where.append(t.at >= as_utc(since))
        group = [t[name] for name in GROUP]
        counts = {
            "successes": func.count().filter(t.success),
            "failures": func.count().filter(~t.success),
            "mean_ms": func.coalesce(func.avg(t.duration_ms), 0.0),
            "mean_tokens": func.coalesce(func.avg(t.tokens), 0.0),
            "explored": func.count().filter(t.explored),
        }
        q = (
            select(*group, *(column.label(name) for name, column in counts.items()))
            .where(*where)
            .group_by(*group)
            .order_by(func.max(t.at).desc(), *(column.collate("C") for column in group))
            .limit(MAX_CHOICE_STATS)
        )
        rows = await self._query(q)
        stats = [ChoiceStats.model_validate(dict(row._mapping)) for row in rows]
        return sorted(stats, key=lambda s: tuple(getattr(s, name) for name in GROUP))
