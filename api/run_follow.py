"""Following a run from the command line: a live progress table on a terminal (or one line
per step elsewhere), the hint when a person is needed, and the summary at the end."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from api.client import ApiClient

STATE_STYLE = {
    "completed": "green",
    "started": "yellow",
    "ready": "cyan",
    "waiting": "cyan",
    "error": "red",
    "cancelled": "dim",
}


def follow(
    client: ApiClient,
    run_id: str,
    *,
    console: Console,
    quiet: bool,
    timeout: float,
    wait_for_people: bool = False,
) -> dict[str, Any]:
    """Follow the run until it finishes, or until it waits for a person (unless
    `wait_for_people`: then on until someone answers); draw progress on `console`. When a
    person is needed, the page and the command that answer are printed. The run is read
    again when its event stream says it changed (`client.changes`).

    Raises TimeoutError when the run is still going after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    hinted: set[str] = set()
    changes = client.changes(f"/api/runs/{run_id}/stream")
    with (
        Live(console=console, refresh_per_second=4, transient=False, redirect_stdout=False)
        if not quiet and console.is_terminal
        else _NoLive() as live
    ):
        while True:
            run = client.request("GET", f"/api/runs/{run_id}")
            if live is not None:
                live.update(progress_table(run))
            elif not quiet:
                _print_new_steps(console, run, hinted)
            if run["status"] in FINISHED:
                break
            people = [
                s
                for s in run["steps"]
                if s["kind"] in ("UserTask", "ManualTask") and s["state"] == "ready"
            ]
            if run["status"] == "waiting" and people:
                for s in people:
                    if s["task_id"] not in hinted:
                        hinted.add(s["task_id"])
                        _hint(console, client, run_id, s)
                if not wait_for_people:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['status']} after {timeout:.0f} s")
            next(changes)
    if not quiet and run["status"] in FINISHED:
        _summary(console, run)
    return run


FINISHED = ("completed", "failed", "incident", "cancelled")


def _hint(console: Console, client: ApiClient, run_id: str, step: dict[str, Any]) -> None:
    console.print(
        f"waiting for a person: {escape(step['name'])} ({step['element_id']})\n"
        f"  answer in the browser: {client.base_url}/runs/{run_id}\n"
        f"  or: weavergen complete {run_id} {step['element_id']} --data '{{…}}'"
        + (
            f"\n  or: weavergen approve {run_id} / weavergen reject {run_id}"
            if step["element_id"] in ("approve_migration", "human_review")
            else ""
        )
    )


class _NoLive:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _print_new_steps(console: Console, run: dict[str, Any], seen: set[str]) -> None:
    for s in run["steps"]:
        key = f"{s['task_id']}:{s['state']}"
        if (
            key not in seen
            and s["kind"] not in ("StartEvent", "EndEvent")
            and s["state"] in ("started", "completed", "error")
        ):
            seen.add(key)
            console.print(f"  {s['state']:<10} {s['process']}/{s['element_id']}  {s['name'] or ''}")


def progress_table(run: dict[str, Any]) -> Table:
    table = Table(
        title=f"run {run['id']} — {run['status']} — pattern {run['pattern'] or '…'}",
        title_justify="left",
    )
    for col in ("step", "state", "attempts", "ms", "tokens"):
        table.add_column(col)
    for s in run["steps"]:
        if s["kind"] in ("StartEvent", "EndEvent") or s["kind"].endswith("Gateway"):
            continue
        style = STATE_STYLE.get(s["state"], "")
        table.add_row(
            f"{s['process']}/{s['element_id']}",
            f"[{style}]{s['state']}[/{style}]",
            str(s["attempts"] or ""),
            f"{s['duration_ms'] or 0:.0f}",
            str((s["tokens_in"] or 0) + (s["tokens_out"] or 0)),
        )
    return table


def _summary(console: Console, run: dict[str, Any]) -> None:
    colour = {"completed": "green", "failed": "red", "incident": "red"}.get(run["status"], "yellow")
    console.print(
        f"[{colour}]run {run['id']} {run['status']}[/{colour}] "
        f"(pattern {run['pattern']}, {run['duration_s'] or 0:.1f} s, "
        f"{run['tokens_in'] + run['tokens_out']} tokens)"
    )
    for d in run["decisions"]:
        console.print(
            f"  decision {d['element_id']}: {d['choice']} ({d['evidence'].get('rule', '')})"
        )
    for a in run["artifacts"]:
        if a["final"]:
            console.print(f"  artifact {a['path']} ({a['kind']}) id {a['id']}")
    for i in run["incidents"]:
        if i["status"] == "open":
            console.print(
                f"  [red]incident {i['id']}[/red] at {i['element_id']}: {escape(i['message'])}\n"
                f"  retry with: curl -X POST -H 'Authorization: Bearer …' "
                f"/api/incidents/{i['id']}/retry"
            )
    if run["error"]:
        console.print(f"  [red]error:[/red] {run['error']}")
