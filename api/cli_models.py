"""`weavergen models`: the model groups and deployments of models.yaml, each one probed.

The models file is the one the server uses (`WEAVERGEN_MODELS`, else models.yaml; the
embedded model's while `weavergen serve` runs one). Each deployment is asked, concurrently,
for its `GET {api_base}/models` (reachable, the model names it serves and who owns them)
and for a one-token `POST {api_base}/chat/completions` (its latency). The completion goes
to the deployment itself, not through the LiteLLM router: the router picks a deployment per
group (and falls back to other groups), so it cannot say which deployment of a group
answers. The `embedder` group, which the engine only asks for embeddings (an embedding model
may serve nothing else), is asked for the embedding of one word instead.

Labels: "stand-in (not a real model)" when the server says it is the stand-in (models owned
by `weavergen-standin`, or the `x-weavergen-standin` header); "embedded (local CPU model)"
when the deployment's api_base is `WEAVERGEN_EMBEDDED_MODEL_URL`.

Exit codes: 0 every deployment answered the completion (or `--no-probe`), 1 some did not,
2 models.yaml is missing or wrong."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import httpx
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adapters.models import Deployment, ModelsConfig, ModelsConfigError, load_models_config
from api.cli_common import JsonOpt, fail
from api.model_server import EMBEDDED_ENV, models_file_in_use
from engine.memory.embedder import EMBEDDER_GROUP
from engine.settings import Settings

STANDIN_OWNER = "weavergen-standin"  # standin.protocol.OWNER
STANDIN_HEADER = "x-weavergen-standin"  # standin.server.STANDIN_HEADER
STANDIN_LABEL = "stand-in (not a real model)"
EMBEDDED_LABEL = "embedded (local CPU model)"
PROBES_AT_ONCE = 8  # deployments probed at the same time
SERVED_SHOWN = 4  # served model names in the table (all of them in --json)


def register(app: typer.Typer) -> None:
    """Add `models` to `app`."""
    app.command(name="models")(models)


@dataclass
class Probe:
    """One deployment: what models.yaml says and, when probed, what it answered."""

    group: str
    id: str
    model: str
    api_base: str
    fallbacks: list[str]
    embedded: bool
    probe: str = "chat"  # what asks for the latency: a one-token "chat" completion, "embeddings"
    probed: bool = False
    reachable: bool = False
    error: str | None = None  # why /models did not answer
    served: list[str] = field(default_factory=list)
    owned_by: list[str] = field(default_factory=list)
    standin: bool = False
    answered: bool = False  # the one-token completion (or the embedding) answered
    latency_ms: float | None = None
    completion_error: str | None = None  # why the completion (or embedding) did not answer

    @property
    def labels(self) -> list[str]:
        return [
            text
            for on, text in ((self.standin, STANDIN_LABEL), (self.embedded, EMBEDDED_LABEL))
            if on
        ]

    @property
    def problem(self) -> str:
        """Why it does not answer, in one line."""
        return self.completion_error or self.error or ""


def models(
    no_probe: Annotated[
        bool, typer.Option("--no-probe", help="only list the groups and deployments")
    ] = False,
    as_json: JsonOpt = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="seconds each request of a probe may take")
    ] = 10,
) -> None:
    """List the model groups and deployments of models.yaml and probe each one (its /models
    and a one-token completion's latency; the embedder group's: an embedding's); says which
    are the stand-in and which is the embedded model (WEAVERGEN_EMBEDDED_MODEL_URL). Exits 0
    when every deployment answers, 1 when one does not, 2 when models.yaml is missing or
    wrong."""
    settings = Settings()
    models_file = models_file_in_use(settings)
    try:
        config = load_models_config(models_file)
    except ModelsConfigError as exc:
        fail(escape(str(exc)), 2)
        return
    except OSError as exc:  # a directory, no permission
        fail(escape(f"{models_file}: cannot read: {exc.strerror or exc}"), 2)
        return
    embedded_url = os.environ.get(EMBEDDED_ENV) or None  # read now, never at import
    probes = _deployments(config, embedded_url)
    if not no_probe:
        keys = {d.id: _api_key(d) for g in config.groups.values() for d in g.deployments}
        asyncio.run(_probe_all(probes, keys, timeout))
    summary = _summary(probes, probed=not no_probe)
    if as_json:
        body = {
            "models_file": str(models_file),
            "embedded_url": embedded_url,
            "probed": not no_probe,
            "total": len(probes),
            "answering": sum(p.answered for p in probes) if not no_probe else None,
            "summary": summary,
            "deployments": [{**asdict(p), "labels": p.labels} for p in probes],
        }
        print(json.dumps(body, indent=2))
    else:
        out = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
        out.print(f"models file: {escape(str(models_file))}", soft_wrap=True)
        out.print(_config_table(probes, labels=no_probe))
        if not no_probe:
            out.print(_probe_table(probes))
        if embedded_url and not any(p.embedded for p in probes):
            out.print(
                f"{EMBEDDED_ENV}={escape(embedded_url)} is no deployment's api_base",
                soft_wrap=True,
            )
        out.print(escape(summary), soft_wrap=True)
    if not no_probe and not all(p.answered for p in probes):
        raise typer.Exit(1)


def _deployments(config: ModelsConfig, embedded_url: str | None) -> list[Probe]:
    """Every deployment, groups sorted by name, deployments in their models.yaml order."""
    embedded = embedded_url.rstrip("/") if embedded_url else None
    return [
        Probe(
            group=name,
            id=d.id,
            model=d.model,
            api_base=d.api_base,
            fallbacks=list(config.groups[name].fallbacks),
            embedded=embedded is not None and d.api_base.rstrip("/") == embedded,
            probe="embeddings" if name == EMBEDDER_GROUP else "chat",
        )
        for name in sorted(config.groups)
        for d in config.groups[name].deployments
    ]


def _api_key(d: Deployment) -> tuple[str | None, str | None]:
    """The deployment's key as the router sends it (`api_key`, else `$api_key_env`), and
    what to say when the server refuses it for want of one."""
    key = d.api_key or (os.environ.get(d.api_key_env) if d.api_key_env else None)
    missing = f"api_key_env {d.api_key_env} is not set" if d.api_key_env and not key else None
    return key, missing


def _served_name(model: str) -> str:
    """The model name the server knows: LiteLLM's provider prefix dropped
    (`hosted_vllm/coder` -> `coder`, `openai/org/name` -> `org/name`)."""
    return model.split("/", 1)[1] if "/" in model else model


async def _probe_all(
    probes: list[Probe], keys: dict[str, tuple[str | None, str | None]], timeout: float
) -> None:
    slots = asyncio.Semaphore(PROBES_AT_ONCE)
    async with httpx.AsyncClient(timeout=timeout) as http:

        async def one(p: Probe) -> None:
            async with slots:
                key, hint = keys.get(p.id, (None, None))
                await _probe(http, p, key, hint, timeout)

        await asyncio.gather(*(one(p) for p in probes))


async def _probe(
    http: httpx.AsyncClient, p: Probe, key: str | None, hint: str | None, timeout: float
) -> None:
    """GET /models, then (unless the server cannot be reached) a one-token completion, or
    for the embedder group an embedding, timed."""
    p.probed = True
    base = p.api_base.rstrip("/")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        listed = await http.get(f"{base}/models", headers=headers)
    except httpx.HTTPError as exc:
        p.error = _transport_error(exc, timeout)
        return  # the completion would fail the same way
    p.standin = listed.headers.get(STANDIN_HEADER, "").lower() == "true"
    if listed.is_success:
        try:
            data = listed.json()["data"]
            p.served = [str(m["id"]) for m in data]
            p.owned_by = sorted({str(m.get("owned_by")) for m in data if m.get("owned_by")})
            p.reachable = True
        except (ValueError, KeyError, TypeError):
            p.error = "/models answered no OpenAI-compatible model list"
        p.standin = p.standin or STANDIN_OWNER in p.owned_by
    else:
        p.error = _http_error(listed, hint)

    name = _served_name(p.model)
    body: dict[str, Any]
    if p.probe == "embeddings":
        path, body, answer_field = "embeddings", {"model": name, "input": ["OK"]}, "data"
    else:
        messages = [{"role": "user", "content": "Say OK"}]
        path, answer_field = "chat/completions", "choices"
        body = {"model": name, "messages": messages, "max_tokens": 1}
    what = "embedding" if p.probe == "embeddings" else "completion"
    started = time.perf_counter()
    try:
        answer = await http.post(f"{base}/{path}", json=body, headers=headers)
    except httpx.HTTPError as exc:
        p.completion_error = f"{what}: {_transport_error(exc, timeout)}"
        return
    elapsed = (time.perf_counter() - started) * 1000
    p.standin = p.standin or answer.headers.get(STANDIN_HEADER, "").lower() == "true"
    if not answer.is_success:
        p.completion_error = f"{what}: {_http_error(answer, hint)}"
        return
    try:
        answer.json()[answer_field][0]
    except (ValueError, KeyError, TypeError, IndexError):
        p.completion_error = f"{what}: no OpenAI-compatible answer"
        return
    p.latency_ms = round(elapsed, 1)
    p.answered = True


def _transport_error(exc: httpx.HTTPError, timeout: float) -> str:
    """A failed request in a few words: connection refused, timeout, …"""
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout (no answer in {timeout:g} s)"
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 10:  # httpx -> httpcore -> anyio -> the socket's
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return f"cannot resolve the host: {_one_line(str(causes[-1]))}"
    text = _one_line(str(causes[-1]) or type(causes[-1]).__name__)
    return f"cannot connect: {text}" if isinstance(exc, httpx.ConnectError) else text


def _http_error(response: httpx.Response, hint: str | None = None) -> str:
    """`HTTP 404: <the server's message>` on one line (with `hint` after a 401 or 403)."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        detail = str(message or body.get("detail") or "")
    else:
        detail = str(body)
    text = f"HTTP {response.status_code}"
    if detail.strip():
        text += f": {_one_line(detail)}"
    if hint and response.status_code in (401, 403):
        text += f" ({hint})"
    return text


def _one_line(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _summary(probes: list[Probe], *, probed: bool) -> str:
    """One line: how many answer, and why the others do not (deployments that fail the
    same way at the same api_base together)."""
    groups = len({p.group for p in probes})
    if not probed:
        return f"{len(probes)} deployments in {groups} model groups (not probed)"
    answering = sum(p.answered for p in probes)
    failures: dict[tuple[str, str], list[str]] = {}
    for p in probes:
        if not p.answered:
            failures.setdefault((p.api_base, p.problem), []).append(p.id)
    why = [f"{', '.join(ids)} at {base}: {problem}" for (base, problem), ids in failures.items()]
    return "; ".join([f"{answering} of {len(probes)} deployments answer", *why])


def _config_table(probes: list[Probe], *, labels: bool) -> Table:
    """What models.yaml says, a line per deployment (and the embedded label when `labels`:
    without probes, the only one known)."""
    table = Table(box=box.SIMPLE_HEAD, title="models.yaml", title_justify="left")
    names = ["group", "deployment", "model", "api_base", "fallbacks"]
    for name in [*names, "label"] if labels else names:
        table.add_column(name, no_wrap=True)
    for p in probes:
        row = [p.group, p.id, p.model, p.api_base, ", ".join(p.fallbacks)]
        if labels:
            row.append(", ".join(p.labels))
        table.add_row(*(escape(v) for v in row))
    return table


def _probe_table(probes: list[Probe]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="probes", title_justify="left")
    for name in ("group", "deployment", "reachable", "model(s)", "latency", "label"):
        table.add_column(name, no_wrap=True, justify="right" if name == "latency" else "left")
    for p in probes:
        reachable = "yes" if p.reachable else f"no: {p.error}"
        served = ", ".join(p.served[:SERVED_SHOWN])
        if len(p.served) > SERVED_SHOWN:
            served += f" +{len(p.served) - SERVED_SHOWN}"
        if p.owned_by:
            served += f" (owned by {', '.join(p.owned_by)})"
        if p.latency_ms is not None:
            latency = f"{p.latency_ms:.0f} ms"
        else:
            latency = p.completion_error or "-"
        table.add_row(
            *(escape(v) for v in (p.group, p.id, reachable, served, latency, ", ".join(p.labels)))
        )
    return table
