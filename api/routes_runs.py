"""HTTP routes for runs, user tasks and incidents."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from api import streams
from api.deps import Operator, Queries, Runs, require
from engine.json_limits import MAX_TASK_DATA_BYTES, check_json
from engine.runs import RunRequest, RunStatus
from engine.runs.paging import ID_PREFIX_PATTERN, RUN_REF_PATTERN, AmbiguousRunId

router = APIRouter(prefix="/api", tags=["runs"], dependencies=[Depends(require("viewer"))])

MAX_ID = 2**63 - 1  # PostgreSQL bigint
_SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class RunCreated(BaseModel):
    """The id of a new run and where to follow it."""

    id: UUID
    status: str
    url: str


class TaskCompletion(BaseModel):
    """A person's answer to a user task, e.g. {"approved": true, "comment": "ok"}: at most
    32 levels deep and 1 MB as JSON."""

    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _bounded(cls, data: dict[str, Any]) -> dict[str, Any]:
        check_json(data, "the task data", max_bytes=MAX_TASK_DATA_BYTES)
        return data


@router.post(
    "/runs",
    status_code=status.HTTP_201_CREATED,
    response_model=RunCreated,
    responses={503: {"description": "too many starts at once: retry after `Retry-After` s"}},
)
async def start_run(body: RunRequest, runs: Runs, who: Operator, request: Request) -> RunCreated:
    """Start a run for a coding request (pattern optional: the orchestrator chooses)."""
    async with request.app.state.intake.turn("runs starting"):
        run_id = await runs.accept(body, created_by=who.name)
    return RunCreated(id=run_id, status="running", url=f"/api/runs/{run_id}")


class RunFilters(BaseModel):
    """Which runs to list."""

    status: RunStatus | None = None
    pattern: str | None = Field(None, max_length=64)
    diagram: str | None = Field(
        None, max_length=255, description="the process id the run started with (its entry)"
    )
    q: str | None = Field(None, max_length=200, description="text in the request")
    id_prefix: str | None = Field(
        None,
        pattern=ID_PREFIX_PATTERN,
        description="the start of the run id: hex digits, dashes optional",
    )
    since: datetime | None = Field(
        None, description="created at or after this time (ISO 8601; UTC when it has no zone)"
    )
    until: datetime | None = Field(
        None, description="created before this time (ISO 8601; UTC when it has no zone)"
    )
    limit: int = Field(50, ge=1, le=500, description="runs per page")


class RunPage(RunFilters):
    """Which runs to list, and from where."""

    cursor: str | None = Field(
        None,
        max_length=200,
        description="the previous page's `X-Next-Cursor`: this page continues after it",
    )


class RunSummary(BaseModel):
    """A run as lists show it (its request without file contents)."""

    id: UUID
    status: str
    pattern: str | None
    entry: str = Field(description="the process id the run started with")
    request: dict[str, Any] = Field(description="text, language, pattern and file names")
    error: str | None
    tokens_in: int
    tokens_out: int
    created_at: str | None
    updated_at: str | None
    finished_at: str | None
    duration_s: float | None
    created_by: str | None
    current_step: str | None = Field(description="the step the run is at, if any")


class Candidate(BaseModel):
    """A run an ambiguous id prefix could mean."""

    id: UUID
    request: str = Field(description="the request's text")
    created_at: str | None


class AmbiguousRun(BaseModel):
    """Several run ids start with the prefix given: its message lists them."""

    detail: str
    candidates: list[Candidate] = Field(
        default_factory=list, description="at most 10 of them, newest first"
    )


_NEXT_PAGE = {
    "description": "runs newest first (created_at, then id); `X-Next-Cursor` (and `Link`, "
    "rel=next) name the next page when there is one",
    "headers": {
        "X-Next-Cursor": {
            "description": "pass as `cursor` for the next page; absent after the last page",
            "schema": {"type": "string"},
        },
        "Link": {
            "description": "the next page's URL, rel=next; absent after the last page",
            "schema": {"type": "string"},
        },
    },
}
_BY_PREFIX: dict[int | str, dict[str, Any]] = {
    404: {"description": "no run id is or starts with `run_id`"},
    409: {"description": "several run ids start with `run_id`: give more", "model": AmbiguousRun},
}
RunIdPath = Annotated[
    str,
    Path(
        description="a run id, or a unique start of one (at least 4 hex digits, dashes optional)",
        json_schema_extra={"pattern": RUN_REF_PATTERN},
    ),
]


async def _run_ref(run_id: RunIdPath, queries: Queries) -> UUID:
    return await queries.resolve_run(run_id)


RunRef = Annotated[UUID, Depends(_run_ref)]
"""A run named by its id or a unique prefix of it: 404 when none, 409 when several."""


@router.get("/runs", response_model=list[RunSummary], responses={200: _NEXT_PAGE})
async def list_runs(
    queries: Queries, filters: Annotated[RunPage, Query()], request: Request, response: Response
) -> list[dict[str, Any]]:
    """Runs, newest first, with the step each is at: a page of `limit`, the next one from
    the cursor in the `X-Next-Cursor` header (stable while runs start meanwhile)."""
    rows, following = await queries.page_runs(**filters.model_dump())
    if following is not None:
        response.headers["X-Next-Cursor"] = following
        response.headers["Link"] = (
            f'<{request.url.include_query_params(cursor=following)}>; rel="next"'
        )
    return rows


@router.get("/runs/stream", response_class=StreamingResponse)
async def stream_runs(
    request: Request, queries: Queries, filters: Annotated[RunFilters, Query()]
) -> StreamingResponse:
    """Server-sent events: `runs` with the filtered list, again whenever a run changes."""
    return StreamingResponse(
        streams.runs_list(request, queries, request.app.state.changes, filters.model_dump()),
        media_type="text/event-stream",
        headers=_SSE_HEADERS,
    )


@router.get("/runs/{run_id}", response_model=dict[str, Any], responses=_BY_PREFIX)
async def get_run(run_id: RunIdPath, queries: Queries, request: Request) -> Response:
    """A run with its steps, decisions (with evidence), artifacts and incidents; `run_id`
    may be a unique prefix of the id (409 lists the runs a shorter one matches)."""
    try:
        resolved = await queries.resolve_run(run_id)
    except AmbiguousRunId as exc:
        answer = AmbiguousRun(
            detail=exc.message,
            candidates=[Candidate.model_validate(asdict(c)) for c in exc.candidates],
        )
        return JSONResponse(answer.model_dump(mode="json"), status_code=409)
    detail = await request.app.state.run_details.get(resolved)
    return Response(detail, media_type="application/json")


@router.get("/runs/{run_id}/events", responses=_BY_PREFIX)
async def run_events(
    run_id: RunRef, queries: Queries, after: int = Query(0, ge=0, le=MAX_ID)
) -> list[dict[str, Any]]:
    """Step events after event id `after` (for live progress)."""
    return await queries.events(run_id, after=after)


@router.get("/runs/{run_id}/stream", response_class=StreamingResponse, responses=_BY_PREFIX)
async def stream_run(
    run_id: RunRef,
    request: Request,
    queries: Queries,
    after: int = Query(0, ge=0, le=MAX_ID),
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_ID)] = None,
) -> StreamingResponse:
    """Server-sent events: `step` per step event, `run` on status changes, `end` when done."""
    await queries.run_summary(run_id)  # 404 before the stream starts
    return StreamingResponse(
        streams.run_events(
            request, queries, request.app.state.changes, run_id, last_event_id or after
        ),
        media_type="text/event-stream",
        headers=_SSE_HEADERS,
    )


@router.get("/runs/{run_id}/steps/{task_id}", responses=_BY_PREFIX)
async def get_step(run_id: RunRef, task_id: UUID, queries: Queries) -> dict[str, Any]:
    """One step in full: prompt, answer, validation report, decision and evidence, files."""
    return await queries.step(run_id, task_id)


@router.get("/runs/{run_id}/artifacts/{artifact_id}", responses=_BY_PREFIX)
async def get_artifact(run_id: RunRef, artifact_id: UUID, queries: Queries) -> dict[str, Any]:
    """One artifact with its content."""
    return await queries.artifact(run_id, artifact_id)


@router.get(
    "/runs/{run_id}/artifacts/{artifact_id}/download",
    response_class=PlainTextResponse,
    responses=_BY_PREFIX,
)
async def download_artifact(
    run_id: RunRef, artifact_id: UUID, queries: Queries
) -> PlainTextResponse:
    """An artifact as a file to save."""
    art = await queries.artifact(run_id, artifact_id)
    name = art["path"].rsplit("/", 1)[-1]
    return PlainTextResponse(
        art["content"],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/runs/{run_id}/outputs/{blob_id}", responses=_BY_PREFIX)
async def get_output(run_id: RunRef, blob_id: UUID, queries: Queries) -> dict[str, Any]:
    """A stored prompt or model answer."""
    return await queries.blob(run_id, blob_id)


@router.post("/runs/{run_id}/tasks/{task_id}/complete")
async def complete_task(
    run_id: UUID,
    task_id: UUID,
    body: TaskCompletion,
    runs: Runs,
    who: Operator,
    request: Request,
) -> dict[str, Any]:
    """Complete a user task (e.g. approve a migration) with the person's answer."""
    await runs.complete_user_task(run_id, task_id, body.data, by=who.name)
    request.app.state.changes.touch(str(run_id))
    return {"run_id": str(run_id), "task_id": str(task_id), "completed": True}


@router.get("/incidents")
async def list_incidents(
    queries: Queries, status_: str | None = Query("open", alias="status")
) -> list[dict[str, Any]]:
    """Incidents (open ones by default; status=all for every one)."""
    return await queries.incidents(status=None if status_ == "all" else status_)


@router.post("/incidents/{incident_id}/retry")
async def retry_incident(
    incident_id: UUID, runs: Runs, who: Operator, request: Request
) -> dict[str, Any]:
    """Run the failed step again."""
    result = await runs.retry_incident(incident_id, by=who.name)
    request.app.state.changes.touch(result["run_id"])
    return result
