"""Read models: runs, steps, decisions, artifacts and incidents as the API and CLI show them.

Over 400 lines: every read of a run the API serves is here, built once as statements (their
compilation costs as much as running them); paging and id prefixes are in `paging`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BindParameter,
    Executable,
    RowMapping,
    Select,
    Subquery,
    bindparam,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.database import reads
from engine.errors import NotFound
from engine.runs.paging import (
    MAX_CANDIDATES,
    MIN_PREFIX,
    AmbiguousRunId,
    Candidate,
    decode_cursor,
    encode_cursor,
    prefix_bounds,
    prefix_hex,
)
from engine.tables import (
    artifacts,
    blobs,
    decision_versions,
    decisions,
    diagram_versions,
    incidents,
    runs,
    step_events,
    steps,
)


async def _all(
    conn: AsyncConnection, query: Executable, params: dict[str, Any] | None = None
) -> Sequence[RowMapping]:
    return (await conn.execute(query, params)).mappings().all()


async def _first(conn: AsyncConnection, query: Executable) -> RowMapping | None:
    return (await conn.execute(query)).mappings().first()


def _applied_files(condition: Any, *columns: Any) -> Select[Any]:
    """The applied artifacts matching `condition`, oldest first: id, path, kind, final and
    the extra `columns`."""
    return (
        select(artifacts.c.id, artifacts.c.path, artifacts.c.kind, artifacts.c.final, *columns)
        .where(condition, artifacts.c.applied.is_(True))
        .order_by(artifacts.c.created_at)
    )


def _json_rows(rows: Subquery, *order: Any) -> Any:
    """`rows` as one JSON array of objects (column name → value), in `order`: a column
    that brings a whole list back in its query's one round trip."""
    agg = func.json_agg(aggregate_order_by(rows.table_valued(), *order))
    return select(func.coalesce(agg, text("'[]'::json"))).scalar_subquery()


def _iso(value: Any) -> str | None:
    """A timestamp as ISO 8601 (also one that came back inside JSON, as text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.isoformat() if value is not None else None


def _utc(at: datetime) -> datetime:
    """`at`, read as UTC when it names no zone."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _run_summary(row: Any) -> dict[str, Any]:
    duration = None
    if row["finished_at"] is not None:
        duration = (row["finished_at"] - row["created_at"]).total_seconds()
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "pattern": row["pattern"],
        "entry": row["entry"],
        # the request without file contents: lists and streams stay small
        "request": {
            "text": row["request"].get("text", ""),
            "language": row["request"].get("language"),
            "pattern": row["request"].get("pattern"),
            "files": sorted(row["request"].get("files") or {}),
        },
        "error": row["error"],
        "tokens_in": row["tokens_in"],
        "tokens_out": row["tokens_out"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "finished_at": _iso(row["finished_at"]),
        "duration_s": duration,
        "created_by": row["created_by"],
        "current_step": row.get("current_step"),
    }


def _run_detail() -> Select[Any]:
    """The run (all but its workflow state: tens of KB nobody here reads) and its steps,
    decisions, applied artifacts and incidents, each a JSON array built by PostgreSQL, in one
    round trip; `run_id` is its parameter."""
    run_id: BindParameter[Any] = bindparam("run_id")
    # steps made in one transaction share started_at: their first event orders them
    first_event = (
        select(func.min(step_events.c.id))
        .where(step_events.c.run_id == run_id, step_events.c.task_id == steps.c.task_id)
        .scalar_subquery()
        .label("first_event")
    )
    ordered_steps = select(steps, first_event).where(steps.c.run_id == run_id).subquery()
    by_run = select(decisions).where(decisions.c.run_id == run_id).subquery()
    applied = _applied_files(
        artifacts.c.run_id == run_id,
        artifacts.c.element_id,
        artifacts.c.task_id,
        artifacts.c.created_at,
    ).subquery()
    opened = select(incidents).where(incidents.c.run_id == run_id).subquery()
    return select(
        *_SHOWN,
        _json_rows(
            ordered_steps,
            ordered_steps.c.started_at,
            ordered_steps.c.first_event,
            ordered_steps.c.element_id,
        ).label("step_rows"),
        _json_rows(by_run, by_run.c.id).label("decision_rows"),
        _json_rows(applied, applied.c.created_at).label("artifact_rows"),
        _json_rows(opened, opened.c.created_at).label("incident_rows"),
    ).where(runs.c.id == run_id)


# the statements a run page reads, built once (building one costs more than running it)
_SHOWN = [c for c in runs.c if c.name != "state"]
_RUN_SUMMARY = select(*_SHOWN).where(runs.c.id == bindparam("run_id"))
_RUN_DETAIL = _run_detail()
_CURRENT_STEP = (
    select(func.coalesce(steps.c.name, steps.c.element_id))
    .where(steps.c.run_id == runs.c.id, steps.c.state.in_(["started", "ready", "waiting"]))
    .order_by(steps.c.started_at.desc())
    .limit(1)
    .scalar_subquery()
    .label("current_step")
)
# newest first on the (created_at, id) index: a page ends at its last row's pair exactly
_LIST = select(*_SHOWN, _CURRENT_STEP).order_by(runs.c.created_at.desc(), runs.c.id.desc())
# the runs whose ids lie between two ids (a prefix's range), one more than are listed
_MATCHES = (
    select(runs.c.id, runs.c.request["text"].astext.label("text"), runs.c.created_at)
    .where(runs.c.id.between(bindparam("low"), bindparam("high")))
    .order_by(runs.c.created_at.desc())
    .limit(MAX_CANDIDATES + 1)
)
_VERSIONS = select(
    diagram_versions.c.id,
    diagram_versions.c.diagram_id,
    diagram_versions.c.version,
    diagram_versions.c.decisions,
).where(diagram_versions.c.id.in_(bindparam("ids", expanding=True)))
_DECISION_VERSIONS = select(
    decision_versions.c.id, decision_versions.c.decision_id, decision_versions.c.version
).where(decision_versions.c.id.in_(bindparam("ids", expanding=True)))


class RunQueries:
    """Queries behind GET endpoints and CLI listings."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = reads(db)  # no BEGIN and ROLLBACK: two round trips of a run's eight
        self._versions: dict[int, dict[str, Any]] = {}  # diagram version id -> id, diagram, no.
        self._decisions: dict[int, dict[str, Any]] = {}  # decision version id -> id, decision, no.

    async def list_runs(self, *, limit: int = 50, **filters: Any) -> list[dict[str, Any]]:
        """The first page of `page_runs` (the live runs list)."""
        rows, _ = await self.page_runs(limit=limit, **filters)
        return rows

    async def page_runs(
        self,
        *,
        status: str | None = None,
        pattern: str | None = None,
        diagram: str | None = None,
        q: str | None = None,
        id_prefix: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Runs newest first, with the step each is at, and the cursor of the next page
        (None after the last): `diagram` is the run's entry process, `q` text in the
        request, `id_prefix` the start of the id, `since` and `until` bound created_at
        (a time without a zone is UTC); `cursor` (from a previous page) continues after
        that page's last run."""
        query = _LIST.limit(limit + 1)  # one more: is there a next page?
        if status:
            query = query.where(runs.c.status == status)
        if pattern:
            query = query.where(runs.c.pattern == pattern)
        if diagram:
            query = query.where(runs.c.entry == diagram)
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(runs.c.request["text"].astext.ilike(f"%{escaped}%"))
        if id_prefix:
            low, high = prefix_bounds(prefix_hex(id_prefix))
            query = query.where(runs.c.id.between(low, high))
        if since is not None:
            query = query.where(runs.c.created_at >= _utc(since))
        if until is not None:
            query = query.where(runs.c.created_at < _utc(until))
        if cursor:
            at, last = decode_cursor(cursor)
            query = query.where(tuple_(runs.c.created_at, runs.c.id) < tuple_(at, last))
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        following = None
        if len(rows) > limit:
            rows = rows[:limit]
            following = encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
        return [_run_summary(r) for r in rows], following

    async def resolve_run(self, ref: str) -> UUID:
        """The id of the one run whose id is `ref` or starts with it (at least
        `MIN_PREFIX` hex digits, dashes optional). A full id is not looked up (the caller
        reads the run and says when there is none); NotFound when no run id starts with
        `ref`, AmbiguousRunId (409) listing some of them when several do."""
        digits = prefix_hex(ref, minimum=MIN_PREFIX)
        if len(digits) == 32:
            return UUID(hex=digits)
        low, high = prefix_bounds(digits)
        async with self.db.connect() as conn:
            rows = await _all(conn, _MATCHES, {"low": low, "high": high})
        if not rows:
            raise NotFound(
                f"no run id starts with {ref!r}: check the id with `weavergen runs` "
                "(GET /api/runs?id_prefix=…)"
            )
        if len(rows) == 1:
            return rows[0]["id"]  # type: ignore[no-any-return]
        shown = rows[:MAX_CANDIDATES]
        raise AmbiguousRunId(
            ref,
            [Candidate(str(r["id"]), r["text"] or "", _iso(r["created_at"])) for r in shown],
            more=len(rows) > MAX_CANDIDATES,
        )

    async def run_summary(self, run_id: UUID) -> dict[str, Any]:
        """One run without steps (cheap; polled by the live run page)."""
        async with self.db.connect() as conn:
            row = (await conn.execute(_RUN_SUMMARY, {"run_id": run_id})).mappings().first()
        if row is None:
            raise NotFound(f"run {run_id} does not exist")
        return _run_summary(row)

    async def get_run(self, run_id: UUID) -> dict[str, Any]:
        """One run with its steps, decisions, artifacts and incidents."""
        async with self.db.connect() as conn:
            row = (await conn.execute(_RUN_DETAIL, {"run_id": run_id})).mappings().first()
            if row is None:
                raise NotFound(f"run {run_id} does not exist")
            # the run's diagram version and the versions it pinned (never change: kept)
            wanted = {row["diagram_version_id"], *row["spec_versions"].values()}
            if missing := wanted - self._versions.keys():
                query = await conn.execute(_VERSIONS, {"ids": sorted(missing)})
                self._versions.update({v["id"]: dict(v) for v in query.mappings()})
            pinned = [self._versions[i] for i in sorted(set(row["spec_versions"].values()))]
            # the decision tables those versions were built with
            tables = {i for p in pinned for i in (p["decisions"] or {}).values() if i}
            if missing := tables - self._decisions.keys():
                query = await conn.execute(_DECISION_VERSIONS, {"ids": sorted(missing)})
                self._decisions.update({v["id"]: dict(v) for v in query.mappings()})
        version = self._versions[row["diagram_version_id"]]
        step_rows, decision_rows = row["step_rows"], row["decision_rows"]
        artifact_rows, incident_rows = row["artifact_rows"], row["incident_rows"]
        out = _run_summary(row)
        out["diagram"] = {
            "id": version["diagram_id"],
            "version": version["version"],
            "version_id": row["diagram_version_id"],
        }
        out["pinned_versions"] = {p["diagram_id"]: p["version"] for p in pinned}
        out["pinned"] = [
            {"diagram_id": p["diagram_id"], "version": p["version"], "version_id": p["id"]}
            for p in pinned
        ]
        out["pinned_decisions"] = [
            {"decision_id": d["decision_id"], "version": d["version"], "version_id": d["id"]}
            for d in (self._decisions[i] for i in sorted(tables))
        ]
        out["steps"] = [_step(s) for s in step_rows]
        out["decisions"] = [
            {
                "task_id": str(d["task_id"]),
                "element_id": d["element_id"],
                "operator": d["operator"],
                "choice": d["choice"],
                "confidence": d["confidence"],
                "evidence": d["evidence"],
                "at": _iso(d["created_at"]),
            }
            for d in decision_rows
        ]
        out["artifacts"] = [
            {
                "id": str(a["id"]),
                "path": a["path"],
                "kind": a["kind"],
                "step": a["element_id"],
                "task_id": str(a["task_id"]),
                "final": a["final"],
                "created_at": _iso(a["created_at"]),
            }
            for a in artifact_rows
        ]
        out["incidents"] = [_incident(i) for i in incident_rows]
        return out

    async def decision_counts(self, since: datetime) -> list[dict[str, Any]]:
        """How often each decision operator chose what, since `since`."""
        q = (
            select(decisions.c.operator, decisions.c.choice, func.count().label("count"))
            .where(decisions.c.created_at >= since)
            .group_by(decisions.c.operator, decisions.c.choice)
            .order_by(decisions.c.operator, decisions.c.choice)
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r) for r in rows]

    async def step(self, run_id: UUID, task_id: UUID) -> dict[str, Any]:
        """One step in full: prompt, answer, validation report, decision, files, events."""
        async with self.db.connect() as conn:
            row = await _first(
                conn, select(steps).where(steps.c.run_id == run_id, steps.c.task_id == task_id)
            )
            if row is None:
                raise NotFound(f"run {run_id} has no step {task_id}")
            decision = await _first(conn, select(decisions).where(decisions.c.task_id == task_id))
            files = await _all(
                conn, _applied_files(artifacts.c.task_id == task_id, artifacts.c.content)
            )
            texts = await _all(
                conn,
                select(blobs.c.kind, blobs.c.content)
                .where(blobs.c.run_id == run_id, blobs.c.task_id == task_id)
                .order_by(blobs.c.created_at.desc()),
            )  # the newest attempt first
            events = await _all(
                conn,
                select(step_events.c.event, step_events.c.detail, step_events.c.at)
                .where(step_events.c.run_id == run_id, step_events.c.task_id == task_id)
                .order_by(step_events.c.id),
            )
        report = next((f for f in files if f["kind"] == "report"), None)
        return {
            **_step(row),
            "prompt": next((t["content"] for t in texts if t["kind"] == "prompt"), None),
            "answer": next((t["content"] for t in texts if t["kind"] == "answer"), None),
            "report": report["content"] if report else None,
            "files": [
                {"id": str(f["id"]), "path": f["path"], "kind": f["kind"], "content": f["content"]}
                for f in files
                if f["kind"] != "report"
            ],
            "decision": None
            if decision is None
            else {
                "choice": decision["choice"],
                "confidence": decision["confidence"],
                "evidence": decision["evidence"],
            },
            "events": [
                {"event": e["event"], "detail": e["detail"], "at": _iso(e["at"])} for e in events
            ],
        }

    async def events(
        self, run_id: UUID, *, after: int = 0, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Step events of a run after event id `after`."""
        async with self.db.connect() as conn:
            rows = await _all(
                conn,
                select(step_events)
                .where(step_events.c.run_id == run_id, step_events.c.id > after)
                .order_by(step_events.c.id)
                .limit(limit),
            )
        return [
            {
                "id": r["id"],
                "task_id": str(r["task_id"]) if r["task_id"] else None,
                "element_id": r["element_id"],
                "event": r["event"],
                "detail": r["detail"],
                "at": _iso(r["at"]),
            }
            for r in rows
        ]

    async def artifact(self, run_id: UUID, artifact_id: UUID) -> dict[str, Any]:
        """One artifact with its content."""
        async with self.db.connect() as conn:
            row = await _first(
                conn,
                select(artifacts).where(
                    artifacts.c.run_id == run_id, artifacts.c.id == artifact_id
                ),
            )
        if row is None:
            raise NotFound(f"run {run_id} has no artifact {artifact_id}")
        return {
            "id": str(row["id"]),
            "path": row["path"],
            "kind": row["kind"],
            "content": row["content"],
            "final": row["final"],
        }

    async def blob(self, run_id: UUID, blob_id: UUID) -> dict[str, Any]:
        """One stored prompt or answer."""
        async with self.db.connect() as conn:
            row = await _first(
                conn, select(blobs).where(blobs.c.run_id == run_id, blobs.c.id == blob_id)
            )
        if row is None:
            raise NotFound(f"run {run_id} has no stored output {blob_id}")
        return {"id": str(row["id"]), "kind": row["kind"], "content": row["content"]}

    async def incidents(self, *, status: str | None = "open") -> list[dict[str, Any]]:
        """Incidents, newest first."""
        q = select(incidents).order_by(incidents.c.created_at.desc()).limit(200)
        if status:
            q = q.where(incidents.c.status == status)
        async with self.db.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [_incident(r) for r in rows]


def _step(s: Any) -> dict[str, Any]:
    """A step as the API shows it in a run and in a step's detail."""
    return {
        "task_id": str(s["task_id"]),
        "element_id": s["element_id"],
        "name": s["name"],
        "process": s["process_id"],
        "kind": s["kind"],
        "operator": s["operator"],
        "state": s["state"],
        "attempts": s["attempts"],
        "error": s["error"],
        "started_at": _iso(s["started_at"]),
        "finished_at": _iso(s["finished_at"]),
        "duration_ms": s["duration_ms"],
        "tokens_in": s["tokens_in"],
        "tokens_out": s["tokens_out"],
        "result": s["result"],
    }


def _incident(r: Any) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "run_id": str(r["run_id"]),
        "task_id": str(r["task_id"]),
        "element_id": r["element_id"],
        "operator": r["operator"],
        "message": r["message"],
        "status": r["status"],
        "attempts": r["attempts"],
        "created_at": _iso(r["created_at"]),
        "resolved_at": _iso(r["resolved_at"]),
    }
