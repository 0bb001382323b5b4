"""Model routing: a LiteLLM Router built from models.yaml, with a cap on calls in flight.

LiteLLM is imported lazily (it costs about 2 s) with its offline settings, so that it never
fetches a price list from the internet nor reads `.env` on its own.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import threading
import time
from array import array
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel

from adapters.model_health import ModelHealth
from adapters.models_config import (
    Deployment,
    ModelGroup,
    ModelsConfig,
    ModelsConfigError,
    RouterSettings,
    load_models_config,
    single_endpoint_config,
)
from adapters.token_budget import fit

__all__ = [
    "Deployment",
    "ModelAnswer",
    "ModelCallError",
    "ModelGroup",
    "ModelRouter",
    "ModelsConfig",
    "ModelsConfigError",
    "RouterSettings",
    "load_models_config",
    "single_endpoint_config",
]

_tracer = trace.get_tracer("weavergen.models")


class ModelCallError(Exception):
    """A model call failed; names the model group and deployments, says if retrying may help."""

    def __init__(self, message: str, *, retryable: bool, kind: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.kind = kind  # timeout, rate_limit, unavailable, bad_request, unknown_group, error


class ModelAnswer(BaseModel):
    """What a model answered, and what it cost."""

    text: str
    model_group: str
    deployment: str
    tokens_in: int
    tokens_out: int
    duration_ms: float


def _litellm(max_in_flight: int) -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # LiteLLM's HTTP pool (read once, at import) must not cap calls below our own cap:
    # its default of 500 per host held a 5000-call worker to 500 model calls at once
    for name in ("AIOHTTP_CONNECTOR_LIMIT", "AIOHTTP_CONNECTOR_LIMIT_PER_HOST"):
        os.environ.setdefault(name, str(max(max_in_flight, 100)))
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    os.environ.setdefault("USE_OTEL_LITELLM_REQUEST_SPAN", "true")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


EMBED_BATCH = 256
"""Texts per embeddings call unless the caller says otherwise."""


_RETRYABLE = (
    "Timeout",
    "RateLimitError",
    "ServiceUnavailableError",
    "InternalServerError",
    "APIConnectionError",
    "BadGatewayError",
)


class ModelRouter:
    """Calls model groups through a LiteLLM Router; at most `max_in_flight` calls at once."""

    def __init__(self, config: ModelsConfig) -> None:
        self.config = config
        self._router: Any = None
        self._building = threading.Lock()
        self._slots = asyncio.Semaphore(config.settings.max_in_flight)
        self._deployments = {
            d.id: (group, d) for group, g in config.groups.items() for d in g.deployments
        }
        self.health = ModelHealth()  # which groups are down (the router avoids them)

    def warm(self) -> None:
        """Import LiteLLM and build the router now (about 12 CPU-s without bytecode, 2 s with)
        rather than in a step. Blocking and thread-safe: run it in a thread."""
        with self._building:
            if self._router is None:
                self._router = self._build()

    def groups(self) -> list[str]:
        """Model group names."""
        return sorted(self.config.groups)

    def auto_groups(self) -> list[str]:
        """The groups `groups: auto` means (models.yaml `settings.auto_groups`)."""
        wanted = self.config.settings.auto_groups
        if wanted:
            return [g for g in wanted if g in self.config.groups]
        return [g for g in self.groups() if g not in ("classifier", "embedder")]

    def has_group(self, name: str) -> bool:
        """Whether models.yaml defines model group `name` (e.g. an `embedder`)."""
        return name in self.config.groups

    def _build(self) -> Any:
        litellm = _litellm(self.config.settings.max_in_flight)
        model_list = []
        for group, g in self.config.groups.items():
            for d in g.deployments:
                key = d.api_key or (os.environ.get(d.api_key_env) if d.api_key_env else None)
                model_list.append(
                    {
                        "model_name": group,
                        "litellm_params": {
                            "model": d.model,
                            "api_base": d.api_base,
                            "api_key": key or "none",
                            "timeout": self.config.settings.timeout_seconds,
                            "weight": d.weight,
                            "temperature": d.temperature,
                            **({"seed": d.seed} if d.seed is not None else {}),
                            # local models cost nothing; declaring it skips LiteLLM's price lookup
                            "input_cost_per_token": 0.0,
                            "output_cost_per_token": 0.0,
                        },
                        "model_info": {"id": d.id},
                    }
                )
        fallbacks = [{g: grp.fallbacks} for g, grp in self.config.groups.items() if grp.fallbacks]
        return litellm.Router(
            model_list=model_list,
            fallbacks=fallbacks,
            num_retries=self.config.settings.num_retries,
            timeout=self.config.settings.timeout_seconds,
            retry_after=0,
            # without it LiteLLM retries onto the same failing deployment
            enable_weighted_failover=True,
        )

    async def complete(
        self,
        group: str,
        messages: list[dict[str, str]],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        user: str | None = None,
    ) -> ModelAnswer:
        """Ask model group `group`; raise ModelCallError naming group and deployments."""
        if group not in self.config.groups:
            raise ModelCallError(
                f"unknown model group {group!r}; models.yaml defines {', '.join(self.groups())}",
                retryable=False,
                kind="unknown_group",
            )
        if self._router is None:  # not warmed yet: build it off the event loop
            await asyncio.to_thread(self.warm)
        # without one, each deployment's own (models.yaml `temperature`, default 0.2)
        kwargs: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
        if max_tokens is None:
            caps = [d.max_tokens for d in self._serving(group) if d.max_tokens]
            max_tokens = min(caps) if caps else None
        context = self._context_length(group)
        if context is not None:  # a small model: the prompt and the answer must fit
            messages, max_tokens = fit(messages, context, max_tokens)
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        if user:
            kwargs["user"] = user
        if json_schema is not None:
            kwargs["response_format"] = self._response_format(group, json_schema)
        start = time.perf_counter()
        with _tracer.start_as_current_span(
            f"model {group}", attributes={"weavergen.model_group": group}
        ) as span:
            async with self._slots:
                try:
                    resp = await self._router.acompletion(model=group, messages=messages, **kwargs)
                except Exception as exc:
                    error = self._error(group, exc)
                    self.health.failed(group, error.kind, error.message)
                    span.set_attributes({"weavergen.outcome": "failed"})
                    span.set_status(Status(StatusCode.ERROR, error.message))
                    raise error from exc
            duration = (time.perf_counter() - start) * 1000
            self.health.answered(group)
            deployment = str((getattr(resp, "_hidden_params", None) or {}).get("model_id") or "?")
            usage = getattr(resp, "usage", None)
            answer = ModelAnswer(
                text=resp.choices[0].message.content or "",
                model_group=group,
                deployment=deployment,
                tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
                tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
                duration_ms=duration,
            )
            span.set_attributes(
                {
                    "weavergen.deployment": deployment,
                    "weavergen.tokens_in": answer.tokens_in,
                    "weavergen.tokens_out": answer.tokens_out,
                    "weavergen.duration_ms": duration,
                    "weavergen.outcome": "completed",
                }
            )
        return answer

    async def embed(
        self, group: str, texts: list[str], *, batch_size: int = EMBED_BATCH
    ) -> list[list[float]]:
        """Embed `texts` with model group `group` (an OpenAI-compatible `/v1/embeddings`, e.g.
        vLLM serving an embedding model, or the stand-in); one vector per text, in order.

        Texts go in batches of `batch_size`, each one call holding one in-flight slot; texts
        must not be empty (OpenAI-compatible servers reject them). Raises ModelCallError
        naming group and deployments, like `complete`."""
        if group not in self.config.groups:
            raise ModelCallError(
                f"unknown model group {group!r}; models.yaml defines {', '.join(self.groups())}",
                retryable=False,
                kind="unknown_group",
            )
        if not texts:
            return []
        if self._router is None:  # not warmed yet: build it off the event loop
            await asyncio.to_thread(self.warm)
        batches = [texts[i : i + batch_size] for i in range(0, len(texts), max(batch_size, 1))]
        with _tracer.start_as_current_span(
            f"embed {group}",
            attributes={"weavergen.model_group": group, "weavergen.texts": len(texts)},
        ) as span:
            start = time.perf_counter()
            try:
                results = await asyncio.gather(*(self._embed_batch(group, b) for b in batches))
            except ModelCallError as error:
                span.set_attributes({"weavergen.outcome": "failed"})
                span.set_status(Status(StatusCode.ERROR, error.message))
                raise
            vectors = [vector for batch, _ in results for vector in batch]
            span.set_attributes(
                {
                    "weavergen.deployment": ",".join(sorted({d for _, (d, _) in results})),
                    "weavergen.tokens_in": sum(t for _, (_, t) in results),
                    "weavergen.duration_ms": (time.perf_counter() - start) * 1000,
                    "weavergen.outcome": "completed",
                }
            )
        return vectors

    async def _embed_batch(
        self, group: str, texts: list[str]
    ) -> tuple[list[list[float]], tuple[str, int]]:
        """One embeddings call: the vectors in input order, and (deployment, tokens)."""
        async with self._slots:
            try:
                resp = await self._router.aembedding(model=group, input=texts)
            except Exception as exc:
                raise self._error(group, exc) from exc
        items = sorted(resp.data, key=lambda item: _field(item, "index"))
        vectors = [_vector(_field(item, "embedding")) for item in items]
        if len(vectors) != len(texts):
            raise ModelCallError(
                f"model group {group!r} answered {len(vectors)} embeddings for {len(texts)} texts",
                retryable=True,
            )
        deployment = str((getattr(resp, "_hidden_params", None) or {}).get("model_id") or "?")
        usage = getattr(resp, "usage", None)
        return vectors, (deployment, int(getattr(usage, "prompt_tokens", 0) or 0))

    def _serving(self, group: str) -> list[Deployment]:
        """The deployments a call to `group` may reach: its own, then its fallbacks'."""
        groups = [group, *self.config.groups[group].fallbacks]
        return [d for g in groups for d in self.config.groups[g].deployments]

    def _context_length(self, group: str) -> int | None:
        """The smallest context window among the deployments a call may reach (None: unknown)."""
        known = [d.context_length for d in self._serving(group) if d.context_length]
        return min(known) if known else None

    def _response_format(self, group: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Constrained output in the form every deployment a call may reach takes: OpenAI's
        `json_schema`, or `json_object` with the schema beside it (llama-cpp-python)."""
        if any(d.structured_output == "json_object" for d in self._serving(group)):
            return {"type": "json_object", "schema": schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": True},
        }

    def _error(self, group: str, exc: Exception) -> ModelCallError:
        kind = type(exc).__name__
        tried = ", ".join(f"{d.id} ({d.api_base})" for d in self._serving(group))
        detail = str(exc).splitlines()[0][:300] if str(exc) else kind
        retryable = any(name in kind for name in _RETRYABLE) or "Timeout" in kind
        return ModelCallError(
            f"model group {group!r} failed ({kind}) on deployment(s) {tried}: {detail}",
            retryable=retryable,
            kind=_kind(kind, retryable),
        )


def _kind(exception_name: str, retryable: bool) -> str:
    """The failure kind of a LiteLLM exception class name (`ModelCallError.kind`)."""
    if "Timeout" in exception_name:
        return "timeout"
    if "RateLimit" in exception_name:
        return "rate_limit"
    if retryable:
        return "unavailable"
    if "BadRequest" in exception_name or "ContextWindow" in exception_name:
        return "bad_request"
    return "error"


def _field(item: Any, name: str) -> Any:
    """A field of one embeddings item (LiteLLM gives dicts or objects)."""
    return item[name] if isinstance(item, dict) else getattr(item, name)


def _vector(value: Any) -> list[float]:
    """An embedding as floats; base64 (little-endian float32, OpenAI's format) is decoded."""
    if isinstance(value, str):
        floats = array("f", base64.b64decode(value))
        if sys.byteorder != "little":
            floats.byteswap()
        return floats.tolist()
    return [float(v) for v in value]
