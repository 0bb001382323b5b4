"""Where the evaluation's runs go: a running WeaverGen over HTTP, or an engine in this process."""

from __future__ import annotations

from typing import Any, Protocol


class Runs(Protocol):
    """Where runs happen: a server over HTTP, or an engine in this process."""

    async def start(self, request: dict[str, Any]) -> str: ...
    async def get(self, run_id: str) -> dict[str, Any]: ...
    async def artifact(self, run_id: str, artifact_id: str) -> str: ...


class HttpRuns:
    """A running WeaverGen server."""

    def __init__(self, base_url: str, token: str | None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=60)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        import asyncio

        from api.client import retry_delay

        for _ in range(1000):  # bounded: a server busy for ever fails the evaluation
            resp = await self.http.request(method, path, **kwargs)
            delay = retry_delay(resp)
            if delay is None:
                break
            await asyncio.sleep(delay)  # the server is busy: it said when to come back
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    async def start(self, request: dict[str, Any]) -> str:
        return str((await self._json("POST", "/api/runs", json=request))["id"])

    async def get(self, run_id: str) -> dict[str, Any]:
        return dict(await self._json("GET", f"/api/runs/{run_id}"))

    async def artifact(self, run_id: str, artifact_id: str) -> str:
        return str(
            (await self._json("GET", f"/api/runs/{run_id}/artifacts/{artifact_id}"))["content"]
        )

    async def close(self) -> None:
        await self.http.aclose()


class LocalRuns:
    """An engine in this process (self-contained evaluation against the stand-in)."""

    def __init__(self, engine: Any) -> None:
        from engine.runs.queries import RunQueries

        self.engine = engine
        self.queries = RunQueries(engine.db)

    async def start(self, request: dict[str, Any]) -> str:
        from engine.runs import RunRequest

        return str(await self.engine.runs.start(RunRequest(**request), created_by="eval"))

    async def get(self, run_id: str) -> dict[str, Any]:
        from uuid import UUID

        return dict(await self.queries.get_run(UUID(run_id)))

    async def artifact(self, run_id: str, artifact_id: str) -> str:
        from uuid import UUID

        return str((await self.queries.artifact(UUID(run_id), UUID(artifact_id)))["content"])
