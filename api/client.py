"""A small HTTP client for the CLI's commands that talk to a running server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from engine.settings import Settings


class ClientError(Exception):
    """The server said no, or could not be reached; the message says what to do."""


def find_token(settings: Settings, explicit: str | None) -> str | None:
    """The token from --token, WEAVERGEN_TOKEN, or the local server's cli-token file."""
    if explicit:
        return explicit
    if os.environ.get("WEAVERGEN_TOKEN"):
        return os.environ["WEAVERGEN_TOKEN"]
    path = Path(settings.data_dir).resolve() / "cli-token"
    if path.exists():
        return path.read_text().strip()
    return None


class ApiClient:
    """Calls the WeaverGen HTTP API."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.base_url = base_url

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; raise ClientError with the server's detail on failure."""
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ClientError(
                f"cannot reach the WeaverGen server at {self.base_url}; "
                "start it with `make run` or pass --server URL"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"{method} {path} failed: {exc}") from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
                detail = body.get("detail")
                if body.get("errors"):
                    detail = f"{detail}:\n" + "\n".join(
                        f"  {e['file']}:{e.get('line') or '?'} [{e.get('element_id') or '-'}] "
                        f"{e['message']}"
                        for e in body["errors"]
                    )
            except ValueError:
                detail = resp.text[:300]
            raise ClientError(f"{method} {path}: HTTP {resp.status_code}: {detail}")
        return resp.json()
