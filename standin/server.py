"""The stand-in model server: an OpenAI-compatible HTTP API that is never a real model.

`POST /v1/chat/completions` answers from scripts or HumanEval replay; `POST /v1/embeddings`
answers with feature-hashing vectors (`standin.embeddings`: lexical overlap, not meaning).
Every response carries the header ``x-weavergen-standin: true``, every served model is
listed with ``owned_by: "weavergen-standin"``, and log lines say "stand-in model".
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from standin.answers import Answer, Answerer
from standin.embeddings import embed_many
from standin.options import StandinOptions
from standin.profiles import ProfileRoll
from standin.protocol import (
    OWNER,
    ChatRequest,
    ConfigUpdate,
    EmbeddingRequest,
    RuntimeSettings,
    StandinStats,
    completion,
    embedding_list,
    error_body,
    sse,
    stream_chunks,
    usage,
)

logger = logging.getLogger("weavergen.standin")

STANDIN_HEADER = "x-weavergen-standin"


class StandinState:
    """Mutable state of one server: runtime settings, failure dice, counters, answerer."""

    def __init__(self, options: StandinOptions) -> None:
        self.options = options
        self.settings = RuntimeSettings(fail_rate=options.fail_rate, latency_ms=options.latency_ms)
        self.rng = random.Random(options.seed)  # noqa: S311 - failure dice, not security
        self.stats = StandinStats()
        self.answerer = Answerer(options)
        self.stats.profiles = self.answerer.profiles.stats
        self.request_number = 0
        self.started = int(time.time())

    def count(self, key: str, table: dict[str, int]) -> None:
        """Increase one counter of a stats table."""
        table[key] = table.get(key, 0) + 1

    async def admit(self, model: str) -> tuple[int, JSONResponse | None]:
        """Count a request, wait the configured latency and roll the failure dice: returns
        the request's number and the injected failure's response, or None to answer."""
        self.request_number += 1
        number = self.request_number
        self.stats.requests += 1
        self.count(model, self.stats.by_model)
        settings = self.settings
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000.0)
        if self.rng.random() < settings.fail_rate:
            self.stats.failed += 1
            self.stats.injected_failures += 1
            logger.info("stand-in model: request %d model=%s injected failure", number, model)
            message = f"stand-in model: injected failure (fail_rate={settings.fail_rate})"
            return number, _error(503, message)
        return number, None

    async def apply_profile(
        self, number: int, model: str, roll: ProfileRoll
    ) -> JSONResponse | None:
        """Wait the profile's latency, hang on a timeout draw, then return its injected
        failure's response, or None to answer."""
        if roll.delay_s > 0:
            await asyncio.sleep(roll.delay_s)
        if roll.hang:
            logger.info(
                "stand-in model: request %d model=%s profile %d hangs %.0f ms (timeout_rate)",
                number,
                model,
                roll.index,
                roll.profile.hang_ms,
            )
            await asyncio.sleep(roll.hang_s)
        if roll.fail:
            self.stats.failed += 1
            self.stats.injected_failures += 1
            logger.info(
                "stand-in model: request %d model=%s profile %d injected failure",
                number,
                model,
                roll.index,
            )
            return _error(503, f"stand-in model: injected failure (profile {roll.index})")
        return None


def _nonce(request: ChatRequest, choice: int) -> str | None:
    """Return the replay nonce from the request's `seed` or `user`, or None for the counter."""
    if request.seed is not None:
        base = f"seed:{request.seed}"
    elif request.user is not None:
        base = f"user:{request.user}"
    else:
        return None
    return base if choice == 0 else f"{base}:{choice}"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(status, message))


def build_app(options: StandinOptions) -> FastAPI:
    """Build the stand-in FastAPI app; a bad script raises ScriptError here."""
    state = StandinState(options)
    app = FastAPI(
        title="WeaverGen stand-in model (not a real model)",
        description="OpenAI-compatible test double: scripted answers and HumanEval replay.",
    )
    app.state.standin = state

    @app.middleware("http")
    async def label_standin(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers[STANDIN_HEADER] = "true"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
            for err in exc.errors()
        ]
        message = "stand-in model: invalid request: " + "; ".join(parts)
        return JSONResponse(
            status_code=400, content=error_body(400, message), headers={STANDIN_HEADER: "true"}
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "standin": True}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": state.started,
                    "owned_by": OWNER,
                    "root": name,
                    "parent": None,
                }
                for name in dict.fromkeys([*options.models, *options.embedding_models])
            ],
        }

    @app.get("/standin/stats")
    async def stats() -> StandinStats:
        return state.stats

    @app.get("/standin/config")
    async def get_config() -> RuntimeSettings:
        return state.settings

    @app.post("/standin/config")
    async def set_config(update: ConfigUpdate) -> RuntimeSettings:
        changes = update.model_dump(exclude_none=True)
        state.settings = state.settings.model_copy(update=changes)
        logger.info("stand-in model: settings changed %s", changes)
        return state.settings

    @app.post("/v1/embeddings")
    async def embeddings(request: EmbeddingRequest) -> Response:
        """Stand-in embeddings: feature hashing of words, bigrams and trigrams (not a model)."""
        number, failure = await state.admit(request.model)
        if failure is not None:
            return failure
        texts = request.texts()
        dim = request.dimensions or options.embedding_dim

        def answer() -> bytes:  # CPU work (hashing, JSON) off the event loop
            vectors = embed_many(texts, dim)
            body = embedding_list(request.model, vectors, texts, request.encoding_format)
            return json.dumps(body, separators=(",", ":")).encode()

        body = await asyncio.to_thread(answer)
        state.stats.served += 1
        state.count("embedding", state.stats.by_source)
        logger.info(
            "stand-in model: request %d model=%s source=embedding texts=%d dim=%d",
            number,
            request.model,
            len(texts),
            dim,
        )
        return Response(content=body, media_type="application/json")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatRequest) -> Response:
        number, failure = await state.admit(request.model)
        if failure is not None:
            return failure

        prompt = request.prompt()
        roll = state.answerer.profiles.roll(prompt, request.model, request.n)
        if roll is not None:
            failure = await state.apply_profile(number, request.model, roll)
            if failure is not None:
                return failure

        answers: list[Answer] = []
        for choice in range(request.n):
            passed = roll.passes[choice] if roll is not None and roll.passes else None
            nonce = _nonce(request, choice)
            answer = state.answerer.answer(request.model, prompt, nonce, passed)
            if roll is not None:
                state.answerer.profiles.record_answer(roll.index, answer.passed)
            state.count(answer.source, state.stats.by_source)
            if answer.status is not None:
                state.stats.failed += 1
                state.stats.scripted_failures += 1
                logger.info(
                    "stand-in model: request %d model=%s scripted status %d (%s)",
                    number,
                    request.model,
                    answer.status,
                    answer.detail,
                )
                return _error(answer.status, answer.content or "stand-in model: scripted failure")
            answers.append(answer)

        state.stats.served += 1
        contents = [a.content or "" for a in answers]
        tokens_out = roll.completion_tokens(len(contents)) if roll is not None else None
        counted = usage(prompt, contents, tokens_out)
        logger.info(
            "stand-in model: request %d model=%s source=%s %s%s prompt_tokens=%d "
            "completion_tokens=%d",
            number,
            request.model,
            ",".join(a.source for a in answers),
            ",".join(a.detail for a in answers if a.detail),
            f" profile {roll.index}" if roll is not None else "",
            counted["prompt_tokens"],
            counted["completion_tokens"],
        )
        completion_id = f"chatcmpl-standin-{number:06d}"
        created = int(time.time())
        if not request.stream:
            body = completion(completion_id, created, request.model, prompt, contents, tokens_out)
            return JSONResponse(body)

        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        chunks = stream_chunks(
            completion_id, created, request.model, prompt, contents, include_usage, tokens_out
        )

        async def events() -> AsyncIterator[str]:
            for chunk in chunks:
                yield sse(chunk)
                await asyncio.sleep(0)
            yield sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    """Return `http://HOST:PORT` for a bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(options: StandinOptions) -> None:
    """Run the stand-in server with uvicorn on options.host:options.port until stopped."""
    app = build_app(options)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    logger.setLevel(logging.INFO)
    sock = bind_socket(options.host, options.port)
    logger.info("WeaverGen stand-in model (not a real model) listening on %s/v1", base_url(sock))
    config = uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
