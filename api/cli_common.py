"""What the `weavergen` commands share: the server and token options, the API client, the
error console."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from api.client import ApiClient, find_token
from engine.settings import Settings

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


def client(server: str | None, token: str | None) -> ApiClient:
    """The API client for `--server` (else the configured local one) and its token."""
    settings = Settings()
    return ApiClient(
        server or f"http://{settings.host}:{settings.port}", find_token(settings, token)
    )


def fail(message: str, code: int = 1) -> None:
    """Print an error and end the command with `code`."""
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
