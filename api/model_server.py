"""Which model server `weavergen serve` uses: the one models.yaml names when it answers, else
the embedded CPU model (adapters/local_model.py), started here and stopped with the server.

While it runs, `<data dir>/local-model.json` says so, so that `weavergen models` and
`weavergen classify` in another terminal use the same models file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

import httpx

from adapters.local_model import LocalModelError, LocalModelServer, write_config
from adapters.models_config import ModelsConfig, ModelsConfigError, load_models_config
from engine.settings import Settings

MARKER = "local-model.json"
EMBEDDED_ENV = "WEAVERGEN_EMBEDDED_MODEL_URL"


async def answering(config: ModelsConfig, timeout: float = 2.0) -> list[str]:
    """The api_base URLs of `config` whose GET /models answers."""
    bases = sorted({d.api_base.rstrip("/") for g in config.groups.values() for d in g.deployments})

    async def answers(client: httpx.AsyncClient, base: str) -> bool:
        try:
            return (await client.get(f"{base}/models")).status_code < 500
        except httpx.HTTPError:
            return False

    async with httpx.AsyncClient(timeout=timeout) as client:
        found = await asyncio.gather(*(answers(client, b) for b in bases))
    return [b for b, ok in zip(bases, found, strict=True) if ok]


async def start_embedded(settings: Settings) -> tuple[LocalModelServer | None, Path | None]:
    """Start the embedded model when the settings call for it: (server, its models file), or
    (None, None) when models.yaml's servers are used. Prints what serves the models."""
    if settings.local_model == "off":
        return None, None
    try:
        config = load_models_config(settings.models_file)
    except (ModelsConfigError, OSError):
        return None, None  # the engine's start reports the file's problem
    if settings.local_model == "auto":
        if "models_file" in settings.model_fields_set:  # WEAVERGEN_MODELS: the user's choice
            return None, None
        if await answering(config):
            return None, None
        bases = sorted({d.api_base for g in config.groups.values() for d in g.deployments})
        why = f"no model server answers at {', '.join(bases)} ({settings.models_file.name})"
    else:
        why = "WEAVERGEN_LOCAL_MODEL=on"
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    try:
        server = LocalModelServer(
            port=settings.local_model_port,
            threads=settings.local_model_threads,
            context=settings.local_model_context,
            model=settings.local_model_path,
            log_path=data / "local-model.log",
        )
        print(f"Models: {why}; starting the embedded CPU model …", flush=True)
        await server.start()
    except LocalModelError as exc:
        if settings.local_model == "on":
            raise
        print(
            f"Models: {why}, and the embedded CPU model cannot start: {exc}. Model steps will "
            "fail until a model server answers (start vLLM, or `make standin` for the "
            "stand-in).",
            flush=True,
        )
        return None, None
    path = write_config(server.models_config(list(config.groups)), data / "models.embedded.yaml")
    (data / MARKER).write_text(
        json.dumps({"url": server.url, "models_file": str(path), "pid": os.getpid()})
    )
    print(
        f"Models: the embedded CPU model {server.describe()} answers every model group "
        f"(embeddings: full-text recall instead). It is small (a real model, weak at code); for "
        f"real results serve a model with vLLM and point models.yaml at it.",
        flush=True,
    )
    return server, path


async def stop_embedded(server: LocalModelServer | None, settings: Settings) -> None:
    """Stop the embedded model and remove the marker."""
    if server is None:
        return
    await server.stop()
    with contextlib.suppress(FileNotFoundError):
        (settings.data_dir.resolve() / MARKER).unlink()


def models_file_in_use(settings: Settings) -> Path:
    """The models file a running `weavergen serve` with this data dir uses: the embedded
    model's while one runs (and WEAVERGEN_MODELS is not set), else the settings'. Sets
    WEAVERGEN_EMBEDDED_MODEL_URL so that `weavergen models` labels it."""
    marker = settings.data_dir.resolve() / MARKER
    if "models_file" in settings.model_fields_set or not marker.exists():
        return settings.models_file
    try:
        info = json.loads(marker.read_text())
        os.kill(int(info["pid"]), 0)  # the server that wrote it still runs
    except (OSError, ValueError, KeyError, TypeError):
        return settings.models_file
    os.environ.setdefault(EMBEDDED_ENV, str(info["url"]))
    return Path(info["models_file"])
