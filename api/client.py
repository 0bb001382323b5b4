"""A small HTTP client for the CLI's commands that talk to a running server."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from engine.settings import Settings

# "come back later": nothing was done, the same request may be sent again
RETRY_STATUSES = (429, 503)
STREAM_READ_TIMEOUT = 45.0  # the server sends a keep-alive every 15 s


class ClientError(Exception):
    """The server said no, or could not be reached; the message says what to do."""


def retry_delay(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait before sending this request again; None when the
    answer is final."""
    return retry_after(response.status_code, response.headers.get("Retry-After"))


def retry_after(status_code: int, header: str | None) -> float | None:
    """`retry_delay` for any HTTP client: the status and the `Retry-After` header's value."""
    if status_code not in RETRY_STATUSES:
        return None
    try:
        return max(float(header or "1"), 0.1)
    except ValueError:  # an HTTP date: not sent by WeaverGen
        return 1.0


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

    def __init__(
        self, base_url: str, token: str | None, timeout: float = 30.0, busy_wait: float = 300.0
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.base_url = base_url
        self.busy_wait = busy_wait  # how long to keep retrying a busy server in all

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request (again after `Retry-After` while the server is busy); raise
        ClientError with the server's detail on failure."""
        waited = 0.0
        while True:
            resp = self._send(method, path, **kwargs)
            delay = retry_delay(resp)
            if delay is None or waited + delay > self.busy_wait:
                break
            time.sleep(delay)
            waited += delay
        if resp.status_code >= 400:
            try:
                body = resp.json()
                detail = body.get("detail")
                if body.get("errors"):
                    detail = f"{detail}:\n" + "\n".join(_problem(e) for e in body["errors"])
            except ValueError:
                detail = resp.text[:300]
            raise ClientError(f"{method} {path}: HTTP {resp.status_code}: {detail}")
        return resp.json()

    def changes(self, path: str, *, every: float = 0.25) -> Iterator[None]:
        """Yields each time the server-sent event stream at `path` sends something (at most
        every `every` seconds, so a burst of events is read once), and at least every 15 s
        (its keep-alives); polls every second while the stream cannot be opened."""
        while True:
            try:
                with self.http.stream(
                    "GET", path, timeout=httpx.Timeout(10, read=STREAM_READ_TIMEOUT)
                ) as resp:
                    if resp.status_code != 200:
                        raise httpx.HTTPError(f"HTTP {resp.status_code}")
                    last = 0.0
                    for line in resp.iter_lines():
                        if line and time.monotonic() - last >= every:
                            last = time.monotonic()
                            yield
                    yield  # the stream ended: the run finished
            except httpx.HTTPError:
                time.sleep(1.0)
                yield

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ClientError(
                f"cannot reach the WeaverGen server at {self.base_url}; "
                "start it with `make run` or pass --server URL"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"{method} {path} failed: {exc}") from None


def _problem(error: dict[str, Any]) -> str:
    """One line of a 422's `errors`: a diagram's (file, line, element) or a form's field."""
    if "field" in error:
        return f"  [{error.get('element_id') or '-'}] {error['field']}: {error['message']}"
    where = f"{error.get('file', '?')}:{error.get('line') or '?'}"
    return f"  {where} [{error.get('element_id') or '-'}] {error['message']}"
