"""Server-sent event streams for live pages: one run's progress, and live lists (runs, the
task inbox).

A stream queries PostgreSQL when PostgreSQL says the run changed (`api.changes`: one
LISTEN per process), not on a timer, so open streams cost nothing while nothing happens.
A comment line every `HEARTBEAT_SECONDS` keeps proxies from closing an idle stream. A run
stream ends after the run finished and its last events were sent; the browser's
EventSource resumes from `Last-Event-ID` after a dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import Request

from api.changes import RunChanges
from api.deps import still_allowed
from engine.runs.queries import RunQueries
from engine.runs.requests import FINISHED_STATUSES


class Watch:
    """Ends a stream when the client left or its credentials stopped being valid."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.checked = time.monotonic()

    async def go_on(self) -> bool:
        if await self.request.is_disconnected():
            return False
        if time.monotonic() - self.checked > RECHECK_SECONDS:
            self.checked = time.monotonic()
            return await still_allowed(self.request)
        return True


HEARTBEAT_SECONDS = 15.0
RECHECK_SECONDS = 30.0  # a signed-out session or revoked token ends its streams this soon
LIST_EVERY_SECONDS = 1.0  # the runs list is sent at most this often, however busy
FINISHED = set(FINISHED_STATUSES)


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One server-sent event."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def run_events(
    request: Request, queries: RunQueries, changes: RunChanges, run_id: UUID, after: int
) -> AsyncIterator[str]:
    """Step events of one run as they happen, and the run's status when it changes."""
    last, status, quiet_since = after, None, time.monotonic()
    watch = Watch(request)
    key = str(run_id)
    seen, changed = changes.mark(key), True
    while await watch.go_on():
        if changed:
            # the status first: a run seen finished here has all its events committed already
            summary = await queries.run_summary(run_id)
            events = await queries.events(run_id, after=last)
            for e in events:
                last = e["id"]
                yield sse("step", e, e["id"])
            if summary["status"] != status or events:
                status = summary["status"]
                yield sse("run", summary)
                quiet_since = time.monotonic()
            if status in FINISHED:
                if not events:
                    yield sse("end", {"status": status})
                    return
                continue  # read once more: the end follows when no events are left
        if time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        now = await changes.wait(seen, key, timeout=HEARTBEAT_SECONDS)
        changed, seen = now != seen or not changes.live, now


async def runs_list(
    request: Request, queries: RunQueries, changes: RunChanges, filters: dict[str, Any]
) -> AsyncIterator[str]:
    """The filtered runs list, sent again (at most once a second) whenever a run changes."""
    async for chunk in live_list(request, changes, "runs", lambda: queries.list_runs(**filters)):
        yield chunk


async def live_list(
    request: Request,
    changes: RunChanges,
    event: str,
    produce: Callable[[], Awaitable[Any]],
) -> AsyncIterator[str]:
    """`produce()` sent as `event` now and again (at most once a second) whenever a run
    changes, with keep-alive comments while nothing happens."""
    quiet_since = time.monotonic()
    watch = Watch(request)
    seen, changed = changes.mark(), True
    while await watch.go_on():
        if changed:
            yield sse(event, await produce())
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        now = await changes.wait(seen, None, timeout=HEARTBEAT_SECONDS)
        changed, seen = now != seen or not changes.live, now
        if changed:  # a busy server changes runs all the time: one list a second is enough
            await asyncio.sleep(LIST_EVERY_SECONDS)
