"""`weavergen tasks|complete|approve|reject|start|cancel`: people's work from the command line.

A task is named by its id (or the start of it) or by its element id within the run
(`approve_migration`); with one task waiting in the run it may be left out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli_common import JsonOpt, ServerOpt, TokenOpt, client, console, fail
from api.client import ApiClient, ClientError

DataOpt = Annotated[
    str | None, typer.Option("--data", help="the answer as JSON, e.g. '{\"amount\": 250}'")
]
CommentOpt = Annotated[str, typer.Option("--comment", help="why (kept with the run)")]


def register(app: typer.Typer) -> None:
    """Add the commands of this module to `app`."""
    for name, command in (
        ("tasks", tasks),
        ("complete", complete),
        ("approve", approve),
        ("reject", reject),
        ("start", start),
        ("cancel", cancel),
    ):
        app.command(name=name)(command)


def tasks(
    lane: Annotated[str | None, typer.Option(help="the tasks' lane")] = None,
    group: Annotated[str | None, typer.Option(help="a candidate group")] = None,
    diagram: Annotated[str | None, typer.Option(help="the run's process id")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="only tasks I claimed")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Person tasks waiting in any run, oldest first, with the command that completes each."""
    params = {"lane": lane, "group": group, "diagram": diagram, "limit": limit}
    params = {k: v for k, v in params.items() if v is not None}
    if mine:
        params["mine"] = "true"
    rows = _call(client(server, token), "GET", "/api/tasks", params=params)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("run", "task", "element", "lane/groups", "claimed by", "waiting since")
    for t in rows:
        where = ", ".join(filter(None, [t["lane"], *t["groups"]]))
        since = t["waiting_since"][:19].replace("T", " ")
        table.add_row(
            t["run_id"], t["task_id"], t["element_id"], where, t["claimed_by"] or "", since
        )
    Console().print(table)
    if rows:
        first = rows[0]
        console.print(
            f"complete one: weavergen complete {first['run_id']} {first['element_id']} "
            "--data '{…}'"
        )


def complete(
    run: Annotated[str, typer.Argument(help="run id (or a unique start of it)")],
    task: Annotated[str | None, typer.Argument(help="task id or element id")] = None,
    data: DataOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Complete a waiting person task with an answer (checked against its form)."""
    try:
        answer = json.loads(data) if data else {}
    except json.JSONDecodeError as exc:
        fail(f"--data is not JSON: {exc.msg} (at character {exc.pos})", 2)
        return
    if not isinstance(answer, dict):
        fail("--data must be a JSON object, e.g. '{\"approved\": true}'", 2)
    _complete(client(server, token), run, task, answer)


def _verdict(approved: bool) -> Callable[..., None]:
    """The `approve` or `reject` command: `{"approved": …, "comment": …}` as the answer."""

    def command(
        run: Annotated[str, typer.Argument(help="run id (or a unique start of it)")],
        task: Annotated[str | None, typer.Argument(help="task id or element id")] = None,
        comment: CommentOpt = "",
        server: ServerOpt = None,
        token: TokenOpt = None,
    ) -> None:
        _complete(client(server, token), run, task, {"approved": approved, "comment": comment})

    word, value = ("Approve", "true") if approved else ("Reject", "false")
    command.__doc__ = f'{word} the run\'s waiting approval (`{{"approved": {value}}}`).'
    return command


approve, reject = _verdict(True), _verdict(False)


def start(
    diagram: Annotated[str, typer.Argument(help="the process id of an uploaded diagram")],
    data: DataOpt = None,
    text: Annotated[str | None, typer.Option(help="what the run is for")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Start a run of any deployed diagram (its start form's data with --data)."""
    try:
        start_data = json.loads(data) if data else {}
    except json.JSONDecodeError as exc:
        fail(f"--data is not JSON: {exc.msg} (at character {exc.pos})", 2)
        return
    api = client(server, token)
    body = {"text": text or f"Start {diagram}", "diagram": diagram, "data": start_data}
    created = _call(api, "POST", "/api/runs", json=body)
    console.print(f"run {created['id']} started: {api.base_url}/runs/{created['id']}")
    print(created["id"])


def cancel(
    run: Annotated[str, typer.Argument(help="run id (or a unique start of it)")],
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Cancel an unfinished run."""
    api = client(server, token)
    run_id = _run_id(api, run)
    _call(api, "POST", f"/api/runs/{run_id}/cancel")
    console.print(f"run {run_id} cancelled")


def _complete(api: ApiClient, run: str, task: str | None, answer: dict[str, Any]) -> None:
    run_id = _run_id(api, run)
    waiting = _call(api, "GET", "/api/tasks", params={"run_id": run_id})
    chosen = _choose(waiting, run_id, task)
    path = f"/api/runs/{run_id}/tasks/{chosen['task_id']}/complete"
    _call(api, "POST", path, json={"data": answer})
    console.print(f"{chosen['element_id']} completed in run {run_id}")


def _choose(waiting: list[dict[str, Any]], run_id: str, task: str | None) -> dict[str, Any]:
    if task is None:
        if len(waiting) == 1:
            return waiting[0]
        names = ", ".join(t["element_id"] for t in waiting) or "none"
        fail(f"run {run_id} has {len(waiting)} tasks waiting ({names}); name one", 2)
    found = [
        t
        for t in waiting
        if t["element_id"] == task
        or t["task_id"].replace("-", "").startswith(str(task).replace("-", "").lower())
    ]
    if len(found) != 1:
        names = ", ".join(f"{t['element_id']} ({t['task_id']})" for t in waiting) or "none"
        fail(f"{task!r} names {len(found)} of the tasks waiting in run {run_id}: {names}", 2)
    return found[0]


def _run_id(api: ApiClient, run: str) -> str:
    """The full run id for `run` (an id or a unique start of one)."""
    found = _call(api, "GET", f"/api/runs/{run}")
    return str(found["id"])


def _call(api: ApiClient, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return api.request(method, path, **kwargs)
    except ClientError as exc:
        fail(str(exc))
