"""`GET /api/runs/{id}` answered from memory while the run has not changed.

A run page, the CLI and dashboards read the same run again and again; between two of its
changes the answer is the same. `RunChanges` counts each run's changes from PostgreSQL's
notifications (and this process's own changes, counted at once), so an answer kept with the
count it was read at is served until the count moves. Nothing is kept while notifications
are not arriving, for a run this process has not yet seen change, or across a gap in the
notifications.

The answer also carries the run's learned choices (`learned`: the model router's and the
failure policy's decisions with their evidence, `engine.policies.journal.Journal.for_run`);
each is written while a step runs, before the step's own change is counted.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any
from uuid import UUID

from fastapi.encoders import jsonable_encoder

from api.changes import RunChanges
from engine.policies.journal import Journal
from engine.runs.queries import RunQueries

KEPT_RUNS = 2048


class RunDetails:
    """The newest answers for runs' detail, at most `size` of them."""

    def __init__(
        self,
        queries: RunQueries,
        changes: RunChanges,
        size: int = KEPT_RUNS,
        *,
        journal: Journal | None = None,
    ) -> None:
        self.queries = queries
        self.changes = changes
        self.size = size
        self.journal = journal
        self._kept: OrderedDict[str, tuple[tuple[int, int], bytes]] = OrderedDict()

    async def get(self, run_id: UUID) -> bytes:
        """The run's detail (as `RunQueries.get_run`) encoded as JSON, from memory when it is
        current (encoding it is a good part of answering)."""
        key = str(run_id)
        self.changes.start()
        # read before the query: a change committed meanwhile leaves the answer stale-marked
        version = (self.changes.epoch, self.changes.mark(key))
        knowable = self.changes.live and version[1] > 0
        kept = self._kept.get(key)
        if knowable and kept is not None and kept[0] == version:
            self._kept.move_to_end(key)
            return kept[1]
        detail = _encoded(await self._read(run_id))
        if knowable:
            self._kept[key] = (version, detail)
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return detail

    async def _read(self, run_id: UUID) -> dict[str, Any]:
        detail = await self.queries.get_run(run_id)
        detail["learned"] = await self.journal.for_run(run_id) if self.journal else []
        return detail


def _encoded(detail: object) -> bytes:
    """As FastAPI's JSON responses encode it."""
    return json.dumps(
        jsonable_encoder(detail), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode()
