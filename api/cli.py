"""The `weavergen` command line: serving, runs and incidents; diagrams (`cli_diagrams`),
people's tasks and run control (`cli_tasks`) and classification (`cli_classify`) are
modules of their own. The run commands stay here together (run, runs, show, incidents,
retry share the output helpers), a little over 400 lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api import cli_classify, cli_models, cli_tasks
from api.cli_common import JsonOpt, ServerOpt, TokenOpt, console
from api.cli_common import client as _client
from api.cli_common import fail as _fail
from api.cli_diagrams import diagrams_app
from api.client import ApiClient, ClientError
from api.run_follow import follow, progress_table
from engine.settings import Settings
from validation.languages import names

app = typer.Typer(
    help="WeaverGen: BPMN orchestration of AI code generation.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(diagrams_app, name="diagrams")
cli_tasks.register(app)
cli_classify.register(app)
cli_models.register(app)


@app.command()
def serve() -> None:
    """Start the API and its worker processes (embedded PostgreSQL unless DATABASE_URL is set)."""
    from api.server import serve as run_server
    from engine.telemetry import configure_logging

    configure_logging()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_server(Settings()))


@app.command()
def worker(concurrency: Annotated[int | None, typer.Option(help="jobs at once")] = None) -> None:
    """Run a worker process against the same database (any machine)."""
    from engine.jobs.worker import run_until_signalled
    from engine.telemetry import configure_logging

    configure_logging()
    asyncio.run(run_until_signalled(Settings(), concurrency=concurrency))


DELEGATED = {
    "standin-model": (
        ["standin"],
        "Run the stand-in model server (NOT a real model); `--help` lists its options.",
    ),
    "validate-bench": (
        ["bench", "validate"],
        "Check the validation mesh against HumanEval (`--humaneval`); `--help` lists options.",
    ),
    "learn-bench": (
        ["bench", "learn"],
        "Simulate runs against the stand-in and show decide.pattern learning (`--runs N`).",
    ),
    "memory-bench": (
        ["bench", "memory"],
        "Recall precision@5 and latency at 10k/100k memories, PostgreSQL and Neo4j.",
    ),
    "correction-bench": (
        ["bench", "corrections"],
        "Simulate a person rejecting a recurring mistake; later runs should avoid it.",
    ),
    "route-bench": (["bench", "route"], "Routing regret vs random, prefer speed, failure policy."),
    "eval": (
        ["bench", "eval"],
        "Measure single model vs consensus vs consensus+loop on HumanEval (`--humaneval`).",
    ),
}
"""Sub-commands that are another program: name -> (`python -m` arguments, help). Their
options live in that program alone; the CLI passes every argument through untouched."""


def _delegate(name: str, module: list[str], help_text: str) -> None:
    """Register `weavergen NAME …` as `python -m MODULE …` in place of this process."""

    def command(ctx: typer.Context) -> None:
        # exec, not a child: signals, the exit code and the process id stay the caller's; no
        # shell, the arguments are the user's own
        os.execv(sys.executable, [sys.executable, "-m", *module, *ctx.args])  # noqa: S606

    app.command(
        name,
        help=help_text,
        add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(command)


for _name, (_module, _help) in DELEGATED.items():
    _delegate(_name, _module, _help)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "operator",
    name: Annotated[str, typer.Option(help="who or what uses it")] = "cli",
) -> None:
    """Create an API token; the token is the last line printed."""
    from api.tokens import ROLE_RANK
    from engine.container import open_database

    if role not in ROLE_RANK:
        _fail(f"--role must be one of {', '.join(ROLE_RANK)}", 2)

    async def create() -> str:
        from adapters.database import create_engine
        from api.tokens import TokenService

        database = open_database(Settings())
        db = create_engine(database.url, pool_size=1)
        try:
            return await TokenService(db).create(role=role, name=name)  # type: ignore[arg-type]
        finally:
            await db.dispose()
            database.close()

    token = asyncio.run(create())
    console.print(f"created {role} token {name!r}; it is shown only once:")
    print(token)


@app.command()
def run(
    request: Annotated[str, typer.Argument(help="what to build or fix")],
    language: Annotated[str, typer.Option(help=", ".join(names()))] = "python",
    pattern: Annotated[str | None, typer.Option(help="quick, standard, bug_fix, migration")] = None,
    diagram: Annotated[
        str | None, typer.Option(help="an uploaded diagram's process id, e.g. Process_1")
    ] = None,
    file: Annotated[list[Path] | None, typer.Option(help="a file to include (repeatable)")] = None,
    project: Annotated[
        str | None, typer.Option(help="the project: its memories are recalled first")
    ] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    timeout: Annotated[
        float, typer.Option(help="give up following after this many seconds")
    ] = 1800,
    wait: Annotated[
        bool, typer.Option("--wait", help="when a person is needed, wait for their answer")
    ] = False,
) -> None:
    """Start a run and follow it; exits 0 only when the run completed, 5 when it waits for
    a person (the page and the command that answer are printed; --wait waits for them)."""
    client = _client(server, token)
    files = {}
    for path in file or []:
        try:
            files[path.name] = path.read_text()
        except OSError as exc:
            _fail(f"cannot read {path}: {exc.strerror}", 2)
    body = {"text": request, "language": language, "pattern": pattern, "files": files}
    if diagram is not None:
        body["diagram"] = diagram
    if project is not None:
        body["project"] = project
    try:
        created = client.request("POST", "/api/runs", json=body)
        final = follow(
            client,
            created["id"],
            console=console,
            quiet=as_json,
            timeout=timeout,
            wait_for_people=wait,
        )
    except ClientError as exc:
        _fail(str(exc))
        return
    except TimeoutError as exc:
        _fail(str(exc), 124)
        return
    if as_json:
        print(json.dumps(final, indent=2))
    codes = {"completed": 0, "failed": 1, "incident": 3, "waiting": 5}
    raise typer.Exit(codes.get(final["status"], 4))


_RUN_REF = re.compile(r"[0-9a-fA-F-]{1,36}")  # a run id or the start of one
RUNS_PAGE = 50  # runs per page by default
RUNS_ALL_PAGE = 500  # with --all: the server's largest page
RUNS_ALL_MAX = 10_000  # --all stops after this many runs (and prints where to go on)


def _runs_page(
    client: ApiClient, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `GET /api/runs` and the cursor of the next one (its `X-Next-Cursor`
    header; None after the last page)."""
    cursors: list[str | None] = []

    def keep(response: httpx.Response) -> None:
        cursors.append(response.headers.get("X-Next-Cursor"))

    hooks = client.http.event_hooks
    client.http.event_hooks = {**hooks, "response": [*hooks.get("response", []), keep]}
    try:
        rows = client.request("GET", "/api/runs", params=params)
    finally:
        client.http.event_hooks = hooks
    return rows, cursors[-1] if cursors else None


@app.command()
def runs(
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    status: Annotated[str | None, typer.Option(help="only runs with this status")] = None,
    pattern: Annotated[str | None, typer.Option(help="only runs of this pattern")] = None,
    diagram: Annotated[
        str | None, typer.Option(help="only runs started with this process id")
    ] = None,
    q: Annotated[str | None, typer.Option("--q", help="only requests with this text")] = None,
    id_prefix: Annotated[
        str | None, typer.Option("--id-prefix", help="only run ids starting with these digits")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="started at or after (ISO 8601, e.g. 2025-06-01T09:00; local time)"),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="started before (ISO 8601; local time unless zoned)")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, max=500, help=f"runs per page ({RUNS_PAGE}; {RUNS_ALL_PAGE} with --all)"
        ),
    ] = None,
    cursor: Annotated[
        str | None, typer.Option(help="go on after a page: the cursor printed below it")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help=f"follow the pages to the end (at most {RUNS_ALL_MAX})")
    ] = False,
) -> None:
    """List runs, newest first, a page at a time; prints the cursor of the next page."""
    filters = {
        "status": status,
        "pattern": pattern,
        "diagram": diagram,
        "q": q,
        "id_prefix": id_prefix,
        "since": since,
        "until": until,
        "limit": limit or (RUNS_ALL_PAGE if all_ else RUNS_PAGE),
    }
    for key, value in (("since", since), ("until", until)):
        if value is not None:
            filters[key] = _local_time(f"--{key}", value)
    params = {key: value for key, value in filters.items() if value is not None}
    client = _client(server, token)
    rows: list[dict[str, Any]] = []
    try:
        while True:
            page, cursor = _runs_page(client, {**params, "cursor": cursor} if cursor else params)
            rows.extend(page)
            if not all_ or cursor is None or len(rows) >= RUNS_ALL_MAX:
                break
    except ClientError as exc:
        _fail(escape(str(exc)))
        return
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        _runs_table(rows)
    if cursor is not None:  # on one line, however narrow the terminal: to copy
        more = f"stopped after {len(rows)} runs; " if all_ else ""
        console.print(f"{more}more runs: add --cursor {cursor} (same filters)", soft_wrap=True)


def _local_time(option: str, value: str) -> str:
    """An ISO 8601 time for the server: one without a zone is this machine's local time."""
    try:
        return datetime.fromisoformat(value).astimezone().isoformat()
    except ValueError:
        _fail(f"{option} {escape(repr(value))} is not an ISO 8601 time, e.g. 2025-06-01T09:00", 2)
        raise


def _runs_table(rows: list[dict[str, Any]]) -> None:
    """Runs as a table, full ids (a piped table is as wide as it needs)."""
    table = Table(title=None if rows else "no runs match")
    table.add_column("id", no_wrap=True, min_width=36)
    for name in ("status", "pattern"):
        table.add_column(name, no_wrap=True)
    table.add_column("request", overflow="ellipsis", no_wrap=True, max_width=60)
    table.add_column("started", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            r["id"],
            r["status"],
            r["pattern"] or "",
            escape(r["request"]["text"]),
            (r["created_at"] or "")[:19],
            f"{r['duration_s'] or 0:.1f}",
            str(r["tokens_in"] + r["tokens_out"]),
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@app.command()
def show(
    run_id: Annotated[
        str, typer.Argument(help="the run's id or a unique start of it (4+ hex digits)")
    ],
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one run: steps, decisions with evidence, artifacts, incidents. An ambiguous id
    prefix lists the runs it matches (and exits 1); one that is not hex exits 2."""
    ref = run_id.strip()
    if not _RUN_REF.fullmatch(ref) or len(ref.replace("-", "")) < 4:
        _fail(f"{escape(repr(run_id))} is not a run id: give the id or its first 4+ hex digits", 2)
    try:
        run_ = _client(server, token).request("GET", f"/api/runs/{ref}")
    except ClientError as exc:
        _fail(escape(str(exc)))
        return
    if as_json:
        print(json.dumps(run_, indent=2))
        return
    out = Console()
    out.print(
        f"run {run_['id']}: {run_['status']}  pattern {run_['pattern']}  "
        f"diagram {run_['diagram']['id']} v{run_['diagram']['version']}"
    )
    out.print(f"request ({run_['request']['language']}): {escape(run_['request']['text'])}")
    out.print(progress_table(run_))
    for s in run_["steps"]:
        result = s.get("result") or {}
        if s["operator"] == "validate.code" and "stages" in result:
            verdict = "[green]passed[/green]" if result["passed"] else "[red]failed[/red]"
            stages = "  ".join(f"{name}={status}" for name, status in result["stages"].items())
            out.print(
                f"validation {s['element_id']}: {verdict} score {result['score']:.2f} "
                f"tests {result.get('tests_passed', 0)}/{result.get('tests_total', 0)}  "
                f"{stages}"
            )
            for hit in result.get("limit_hits") or []:
                out.print(f"  [red]sandbox limit hit[/red] {hit}")
            for f in (result.get("findings") or [])[:5]:
                where = f"{f.get('file', '')}:{f['line']}" if f.get("line") else f.get("file", "")
                out.print(escape(f"  {where} [{f['rule']}] {f['message'][:160]}"))
    for d in run_["decisions"]:
        out.print(f"decision {d['element_id']} → {d['choice']} (confidence {d['confidence']})")
        out.print_json(json.dumps(d["evidence"]))
    for a in run_["artifacts"]:
        out.print(
            f"artifact {a['path']} [{a['kind']}] from {a['step']}"
            f"{' (final)' if a['final'] else ''}: {a['id']}"
        )
    for i in run_["incidents"]:
        out.print(
            f"incident {i['id']} ({i['status']}) at {i['element_id']}: {escape(i['message'])}"
        )


@app.command()
def incidents(
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    all_: Annotated[bool, typer.Option("--all", help="include resolved")] = False,
) -> None:
    """List open incidents (steps that failed after their retries)."""
    try:
        rows = _client(server, token).request(
            "GET", "/api/incidents", params={"status": "all" if all_ else "open"}
        )
    except ClientError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("incident", "run", "step", "status", "attempts", "message")
    for i in rows:
        table.add_row(
            i["id"],
            i["run_id"],
            i["element_id"],
            i["status"],
            str(i["attempts"]),
            i["message"][:120],
        )
    Console().print(table)


@app.command()
def retry(incident_id: str, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Retry an incident's step."""
    try:
        out = _client(server, token).request("POST", f"/api/incidents/{incident_id}/retry")
    except ClientError as exc:
        _fail(str(exc))
        return
    console.print(f"incident {out['incident']} retried; run {out['run_id']}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
