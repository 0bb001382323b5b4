"""A batch of SQL writes sent in one psycopg pipeline on a SQLAlchemy connection's transaction.

Statements that return nothing are queued as they are decided and sent together just before
the transaction commits: one round trip instead of one per statement. An error in any of
them fails the transaction when the batch is sent. Reads never go through a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

Params = Sequence[Any] | Mapping[str, Any]


class StaleWrite(Exception):
    """The batch's checked statement changed no row."""


class WriteBatch:
    """The writes of one transaction, queued in order and sent in one pipeline."""

    def __init__(self) -> None:
        self._queued: list[tuple[str, Params | list[Params], bool]] = []
        self._checked: tuple[str, Params, str] | None = None

    def add(self, sql: str, params: Params) -> None:
        """Queue one statement."""
        self._queued.append((sql, params, False))

    def add_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Queue one statement run once per row of parameters."""
        rows = list(rows)
        if rows:
            self._queued.append((sql, rows, True))

    def add_checked(self, sql: str, params: Params, conflict: str) -> None:
        """Queue the statement that must change exactly one row, sent last; `StaleWrite`
        (with this message) when it changes none."""
        self._checked = (sql, params, conflict)

    async def send(self, conn: AsyncConnection) -> None:
        """Send everything queued on the transaction's connection, in one pipeline."""
        if not self._queued and self._checked is None:
            return
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None  # a connection in a transaction has its driver connection
        async with raw.pipeline(), raw.cursor() as cur, raw.cursor() as checked:
            for sql, params, many in self._queued:
                if many:
                    await cur.executemany(sql, params)  # type: ignore[arg-type]
                else:
                    await cur.execute(sql, params)  # type: ignore[arg-type]
            if self._checked is not None:
                await checked.execute(self._checked[0], self._checked[1])
        self._queued.clear()
        if self._checked is not None:
            conflict = self._checked[2]
            self._checked = None
            if checked.rowcount != 1:
                raise StaleWrite(conflict)
