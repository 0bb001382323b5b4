"""`weavergen diagrams …`: list, upload, compare and retire diagram versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli_common import JsonOpt, ServerOpt, TokenOpt, client, console, fail
from api.client import ClientError

diagrams_app = typer.Typer(help="Diagrams and their versions.", no_args_is_help=True)


def _call(server: str | None, token: str | None, method: str, path: str, **kw: Any) -> Any:
    try:
        return client(server, token).request(method, path, **kw)
    except ClientError as exc:
        fail(str(exc))


@diagrams_app.command("list")
def list_(server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Diagrams with their versions (retired ones marked)."""
    rows = _call(server, token, "GET", "/api/diagrams")
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("diagram", "versions", "calls")
    for d in rows:
        shown = [
            f"{v['version']}{' (retired)' if v.get('retired_at') else ''}" for v in d["versions"]
        ]
        table.add_row(d["id"], ", ".join(shown), ", ".join(d["versions"][-1]["calls"]))
    Console().print(table)


@diagrams_app.command()
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".bpmn file")],
    new_version: Annotated[
        bool, typer.Option("--new-version", help="store as a new version of an existing id")
    ] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Check and store a diagram; every problem is listed with its element and line."""
    out = _call(
        server,
        token,
        "POST",
        "/api/diagrams",
        params={"new_version": str(new_version).lower()},
        files={"file": (file.name, file.read_bytes(), "application/xml")},
    )
    state = "stored" if out.get("created", True) else "unchanged"
    console.print(f"diagram {out['diagram_id']} version {out['version']} {state}")


@diagrams_app.command()
def compare(
    diagram: str,
    base: int,
    head: int,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What version HEAD of DIAGRAM adds, removes and changes against version BASE."""
    out = _call(
        server,
        token,
        "GET",
        f"/api/diagrams/{diagram}/compare",
        params={"base": base, "head": head},
    )
    if as_json:
        print(json.dumps(out, indent=2))
        return
    lines = [f"+ {e['type']} {e['id']} {e.get('name') or ''}".rstrip() for e in out["added"]]
    lines += [f"- {e['type']} {e['id']} {e.get('name') or ''}".rstrip() for e in out["removed"]]
    lines += [f"~ {e['type']} {e['id']}: {', '.join(e['what'])}" for e in out["changed"]]
    print("\n".join(lines) if lines else f"versions {base} and {head} run the same elements")


@diagrams_app.command()
def retire(diagram: str, version: int, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Retire a version: new runs pin the newest version that is not retired."""
    _call(server, token, "POST", f"/api/diagrams/{diagram}/versions/{version}/retire")
    console.print(f"diagram {diagram} version {version} retired")
