"""The `weavergen` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from api.client import ApiClient, ClientError, find_token
from engine.settings import Settings

app = typer.Typer(
    help="WeaverGen: BPMN orchestration of AI code generation.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console(stderr=True)

ServerOpt = Annotated[
    str | None, typer.Option("--server", help="server URL (default from settings)")
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="API token (default WEAVERGEN_TOKEN or the local server's cli-token)"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
STATE_STYLE = {
    "completed": "green",
    "started": "yellow",
    "ready": "cyan",
    "waiting": "cyan",
    "error": "red",
    "cancelled": "dim",
}


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "LiteLLM", "litellm", "procrastinate", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _client(server: str | None, token: str | None) -> ApiClient:
    settings = Settings()
    return ApiClient(
        server or f"http://{settings.host}:{settings.port}", find_token(settings, token)
    )


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def serve() -> None:
    """Start the API with in-process workers (embedded PostgreSQL unless DATABASE_URL is set)."""
    from api.server import serve as run_server

    _logging()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_server(Settings()))


@app.command()
def worker(concurrency: Annotated[int | None, typer.Option(help="jobs at once")] = None) -> None:
    """Run a worker process against the same database (any machine)."""
    from engine.worker import serve_worker

    _logging()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_worker(Settings(), concurrency=concurrency))


@app.command(
    "standin-model",
    add_help_option=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def standin_model(ctx: typer.Context) -> None:
    """Run the stand-in model server (NOT a real model); `--help` lists its options."""
    from standin.cli import main as standin_main

    raise typer.Exit(standin_main(list(ctx.args)))


@app.command(
    "validate-bench",
    add_help_option=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def validate_bench(ctx: typer.Context) -> None:
    """Check the validation mesh against HumanEval (`--humaneval`); `--help` lists options."""
    from api.validate_bench import main as bench_main

    raise typer.Exit(bench_main(list(ctx.args)))


@app.command(
    "learn-bench",
    add_help_option=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def learn_bench(ctx: typer.Context) -> None:
    """Simulate runs against the stand-in and show decide.pattern learning (`--runs N`)."""
    from api.learn_bench import main as bench_main

    _logging()
    logging.getLogger().setLevel(logging.WARNING)
    raise typer.Exit(bench_main(list(ctx.args)))


@app.command(
    "eval",
    add_help_option=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def eval_command(ctx: typer.Context) -> None:
    """Measure single model vs consensus vs consensus+loop on HumanEval (`--humaneval`)."""
    from api.eval_bench import main as eval_main

    _logging()
    logging.getLogger().setLevel(logging.WARNING)
    raise typer.Exit(eval_main(list(ctx.args)))


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "operator",
    name: Annotated[str, typer.Option(help="who or what uses it")] = "cli",
) -> None:
    """Create an API token; the token is the last line printed."""
    from engine.container import open_database
    from engine.tokens import ROLE_RANK

    if role not in ROLE_RANK:
        _fail(f"--role must be one of {', '.join(ROLE_RANK)}", 2)

    async def create() -> str:
        from adapters.database import create_engine
        from engine.tokens import TokenService

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
    language: Annotated[str, typer.Option(help="python, javascript or go")] = "python",
    pattern: Annotated[str | None, typer.Option(help="quick, standard, bug_fix, migration")] = None,
    file: Annotated[list[Path] | None, typer.Option(help="a file to include (repeatable)")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    timeout: Annotated[
        float, typer.Option(help="give up following after this many seconds")
    ] = 1800,
) -> None:
    """Start a run and follow it; exits 0 only when the run completed."""
    client = _client(server, token)
    files = {}
    for path in file or []:
        try:
            files[path.name] = path.read_text()
        except OSError as exc:
            _fail(f"cannot read {path}: {exc.strerror}", 2)
    body = {"text": request, "language": language, "pattern": pattern, "files": files}
    try:
        created = client.request("POST", "/api/runs", json=body)
        final = _follow(client, created["id"], quiet=as_json, timeout=timeout)
    except ClientError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps(final, indent=2))
    codes = {"completed": 0, "failed": 1, "incident": 3}
    raise typer.Exit(codes.get(final["status"], 4))


def _follow(client: ApiClient, run_id: str, *, quiet: bool, timeout: float) -> dict[str, Any]:
    """Poll the run until it finishes or needs someone; draw progress on stderr."""
    deadline = time.monotonic() + timeout
    hinted: set[str] = set()
    with (
        Live(console=console, refresh_per_second=4, transient=False, redirect_stdout=False)
        if not quiet and console.is_terminal
        else _NoLive() as live
    ):
        while True:
            run = client.request("GET", f"/api/runs/{run_id}")
            if live is not None:
                live.update(_progress_table(run))
            elif not quiet:
                _print_new_steps(run, hinted)
            if run["status"] in ("completed", "failed", "incident"):
                break
            if run["status"] == "waiting" and not quiet:
                for s in run["steps"]:
                    if (
                        s["kind"] == "UserTask"
                        and s["state"] == "ready"
                        and s["task_id"] not in hinted
                    ):
                        hinted.add(s["task_id"])
                        console.print(
                            f"waiting for a person: {s['name']} — POST "
                            f"/api/runs/{run_id}/tasks/{s['task_id']}/complete"
                        )
            if time.monotonic() > deadline:
                _fail(f"run {run_id} still {run['status']} after {timeout:.0f} s", 124)
            time.sleep(0.5)
    if not quiet:
        _summary(run)
    return run


class _NoLive:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _print_new_steps(run: dict[str, Any], seen: set[str]) -> None:
    for s in run["steps"]:
        key = f"{s['task_id']}:{s['state']}"
        if (
            key not in seen
            and s["kind"] not in ("StartEvent", "EndEvent")
            and s["state"] in ("started", "completed", "error")
        ):
            seen.add(key)
            console.print(f"  {s['state']:<10} {s['process']}/{s['element_id']}  {s['name'] or ''}")


def _progress_table(run: dict[str, Any]) -> Table:
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


def _summary(run: dict[str, Any]) -> None:
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


@app.command()
def runs(
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    status: Annotated[str | None, typer.Option(help="only runs with this status")] = None,
) -> None:
    """List recent runs."""
    try:
        rows = _client(server, token).request(
            "GET", "/api/runs", params={"status": status} if status else {}
        )
    except ClientError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "status", "pattern", "request", "started", "s", "tokens")
    for r in rows:
        table.add_row(
            r["id"],
            r["status"],
            r["pattern"] or "",
            escape(r["request"]["text"][:50]),
            (r["created_at"] or "")[:19],
            f"{r['duration_s'] or 0:.1f}",
            str(r["tokens_in"] + r["tokens_out"]),
        )
    Console().print(table)


@app.command()
def show(
    run_id: str, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one run: steps, decisions with evidence, artifacts, incidents."""
    try:
        run_ = _client(server, token).request("GET", f"/api/runs/{run_id}")
    except ClientError as exc:
        _fail(str(exc))
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
    out.print(_progress_table(run_))
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
