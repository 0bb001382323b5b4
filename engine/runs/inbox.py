"""The task inbox: person tasks (user and manual tasks) waiting in any run, with their lane,
candidate groups and form, who claimed them, and claiming.

A claim is an event of the run (`claimed` / `unclaimed`, detail {"by"}); the newest one
says who holds the task. A task claimed by someone else can be completed only after they
unclaim it. Pages are read oldest waiting first on (started_at, task_id), with the same
opaque cursors as the runs list (`engine.runs.paging`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.diagrams.catalog import DiagramCatalog
from engine.errors import Conflict, NotFound
from engine.runs.paging import decode_cursor, encode_cursor
from engine.runs.requests import FINISHED_STATUSES
from engine.tables import runs, step_events, steps

PERSON_KINDS = ("UserTask", "ManualTask")
FINISHED = FINISHED_STATUSES
SCAN = 500  # rows read per page at most when filtering by lane or group


def _claim() -> Any:
    """Who holds the step's task: the newest claim event's `by`, NULL when unclaimed."""
    return (
        select(step_events.c.detail["by"].astext)
        .where(
            step_events.c.run_id == steps.c.run_id,
            step_events.c.task_id == steps.c.task_id,
            step_events.c.event.in_(("claimed", "unclaimed")),
        )
        .order_by(step_events.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


_CLAIMED_BY = _claim().label("claimed_by")
_WAITING = (
    select(
        steps.c.task_id,
        steps.c.run_id,
        steps.c.element_id,
        steps.c.name,
        steps.c.process_id,
        steps.c.kind,
        steps.c.started_at,
        runs.c.entry,
        runs.c.spec_versions,
        runs.c.request,
        runs.c.status,
        _CLAIMED_BY,
    )
    .join(runs, runs.c.id == steps.c.run_id)
    .where(
        steps.c.state == "ready",
        steps.c.kind.in_(PERSON_KINDS),
        runs.c.status.notin_(FINISHED),
    )
    .order_by(steps.c.started_at, steps.c.task_id)
)


async def held_by(conn: AsyncConnection, run_id: UUID, task_id: UUID) -> str | None:
    """Who holds a person task now (None: nobody)."""
    found = await conn.execute(
        select(_claim()).where(steps.c.run_id == run_id, steps.c.task_id == task_id)
    )
    holder: str | None = found.scalar()
    return holder


class Inbox:
    """Lists, claims and releases waiting person tasks."""

    def __init__(self, db: AsyncEngine, catalog: DiagramCatalog) -> None:
        self.db = db
        self.catalog = catalog

    async def page(
        self,
        *,
        lane: str | None = None,
        group: str | None = None,
        role: str | None = None,
        diagram: str | None = None,
        claimed_by: str | None = None,
        unclaimed: bool = False,
        run_id: UUID | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Waiting person tasks, oldest first, and the cursor of the next page (None after
        the last). `lane` and `group` match the task's lane and candidate groups (case
        does not matter); `role` keeps the tasks meant for people of that role (a lane or
        candidate group named after it) and those meant for anyone (neither set);
        `diagram` the run's process id."""
        query = _WAITING
        if diagram:
            query = query.where(runs.c.entry == diagram)
        if run_id is not None:
            query = query.where(steps.c.run_id == run_id)
        if claimed_by:
            query = query.where(_claim() == claimed_by)
        if unclaimed:
            query = query.where(_claim().is_(None))
        if cursor:
            at, last = decode_cursor(cursor)
            query = query.where(tuple_(steps.c.started_at, steps.c.task_id) > tuple_(at, last))
        filtering = bool(lane or group or role)
        out: list[dict[str, Any]] = []
        async with self.db.connect() as conn:
            rows = (await conn.execute(query.limit(SCAN if filtering else limit + 1))).all()
            scanned = None
            for row in rows:
                task = await self._view(conn, row._mapping)
                scanned = row
                if _matches(task, lane, group, role):
                    out.append(task)
                if len(out) > limit:
                    break
        following = None
        if len(out) > limit:
            out = out[:limit]
            following = encode_cursor(out[-1]["_started_at"], UUID(out[-1]["task_id"]))
        elif filtering and len(rows) == SCAN and scanned is not None:
            following = encode_cursor(scanned.started_at, scanned.task_id)
        for task in out:
            task.pop("_started_at")
        return out, following

    async def task(self, task_id: UUID) -> dict[str, Any]:
        """One waiting person task (NotFound when no such task waits)."""
        async with self.db.connect() as conn:
            row = (await conn.execute(_WAITING.where(steps.c.task_id == task_id))).first()
            if row is None:
                raise NotFound(f"no person task {task_id} is waiting (done, or never one)")
            task = await self._view(conn, row._mapping)
        task.pop("_started_at")
        return task

    async def claim(self, task_id: UUID, by: str) -> dict[str, Any]:
        """Claim a waiting task for `by`; Conflict when someone else holds it."""
        return await self._set_claim(task_id, by, "claimed")

    async def unclaim(self, task_id: UUID, by: str, *, anyone: bool = False) -> dict[str, Any]:
        """Release a task `by` holds (`anyone`: whoever holds it, for admins)."""
        return await self._set_claim(task_id, by, "unclaimed", anyone=anyone)

    async def _set_claim(
        self, task_id: UUID, by: str, event: str, *, anyone: bool = False
    ) -> dict[str, Any]:
        async with self.db.begin() as conn:
            row = (
                await conn.execute(
                    select(steps.c.run_id, steps.c.element_id, steps.c.state, steps.c.kind)
                    .where(steps.c.task_id == task_id)
                    .with_for_update()  # one claim at a time per task
                )
            ).first()
            if row is None or row.kind not in PERSON_KINDS:
                raise NotFound(f"no person task {task_id}")
            if row.state != "ready":
                raise Conflict(f"task {row.element_id} ({task_id}) is not waiting ({row.state})")
            holder = await held_by(conn, row.run_id, task_id)
            if event == "claimed" and holder not in (None, by):
                raise Conflict(f"task {row.element_id} is claimed by {holder}; they can unclaim it")
            if event == "unclaimed" and holder is not None and holder != by and not anyone:
                raise Conflict(f"task {row.element_id} is claimed by {holder}, not by {by}")
            await conn.execute(
                step_events.insert().values(
                    run_id=row.run_id,
                    task_id=task_id,
                    element_id=row.element_id,
                    event=event,
                    detail={"by": by} if event == "claimed" else {"by": None, "was": holder},
                )
            )
        return {
            "task_id": str(task_id),
            "run_id": str(row.run_id),
            "claimed_by": (by if event == "claimed" else None),
        }

    async def _view(self, conn: AsyncConnection, row: Any) -> dict[str, Any]:
        version_id = (row["spec_versions"] or {}).get(row["process_id"])
        info = (
            await self.catalog.person_task(conn, version_id, row["element_id"])
            if version_id
            else {}
        )
        return {
            "task_id": str(row["task_id"]),
            "run_id": str(row["run_id"]),
            "element_id": row["element_id"],
            "name": row["name"] or row["element_id"],
            "kind": row["kind"],
            "diagram": row["entry"],
            "process_id": row["process_id"],
            "request": str((row["request"] or {}).get("text", ""))[:200],
            "run_status": row["status"],
            "waiting_since": row["started_at"].isoformat(),
            "lane": info.get("lane"),
            "groups": info.get("groups", []),
            "form": (
                {"schema": info["schema"], "ui": info.get("ui") or {}} if "schema" in info else None
            ),
            "claimed_by": row["claimed_by"],
            "_started_at": row["started_at"],
        }


def _matches(task: dict[str, Any], lane: str | None, group: str | None, role: str | None) -> bool:
    if lane and (task["lane"] or "").lower() != lane.lower():
        return False
    if group and group.lower() not in (g.lower() for g in task["groups"]):
        return False
    if role:
        meant = {g.lower() for g in task["groups"]} | (
            {task["lane"].lower()} if task["lane"] else set()
        )
        return not meant or role.lower() in meant
    return True
