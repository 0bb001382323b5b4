"""OpenAI wire format: chat-completions and embeddings requests, responses, stream chunks,
errors."""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from standin.embeddings import MAX_DIM, MIN_DIM

OWNER = "weavergen-standin"
"""`owned_by` of every served model: the stand-in is never presented as a real model."""

FINGERPRINT = "weavergen-standin"


class ContentPart(BaseModel):
    """One part of a multi-part message content (only text is read)."""

    model_config = ConfigDict(extra="allow")

    type: str = "text"
    text: str | None = None


class ChatMessage(BaseModel):
    """One chat message; extra fields (name, tool_calls, …) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """Return the message's text content."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content)


class StreamOptions(BaseModel):
    """`stream_options` of a streaming request."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """A chat-completions request; unknown OpenAI/vLLM fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=16)
    seed: int | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None

    def prompt(self) -> str:
        """Return all message contents joined with newlines (what script rules match)."""
        return "\n".join(message.text() for message in self.messages)


MAX_EMBEDDING_INPUTS = 2048
"""Most texts one embeddings request may carry (OpenAI's limit too)."""


class EmbeddingRequest(BaseModel):
    """An embeddings request: text input only (a string or a list of non-empty strings).

    `dimensions` overrides the server's `--embedding-dim` for this request; unknown
    OpenAI/vLLM fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    input: str | list[str]
    dimensions: int | None = Field(default=None, ge=MIN_DIM, le=MAX_DIM)
    encoding_format: Literal["float", "base64"] | None = None
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _text_input(cls, value: Any) -> Any:
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list):
            raise ValueError("must be a string or a list of strings")
        if not texts:
            raise ValueError("is an empty list; give at least one text")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise ValueError(f"has {len(texts)} texts; at most {MAX_EMBEDDING_INPUTS} per request")
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(
                    f"item {index} is {type(text).__name__}, not a string "
                    "(the stand-in embeds text, not token ids)"
                )
            if not text:
                raise ValueError(f"item {index} is an empty string")
        return value

    def texts(self) -> list[str]:
        """Return the input as a list of texts."""
        return [self.input] if isinstance(self.input, str) else list(self.input)


def embedding_list(
    model: str, vectors: list[list[float]], texts: list[str], encoding_format: str | None
) -> dict[str, Any]:
    """Return an OpenAI embeddings `list` object (base64: little-endian float32, as OpenAI)."""
    tokens = sum(count_tokens(text) for text in texts)
    data: list[dict[str, Any]] = []
    for index, vector in enumerate(vectors):
        encoded: list[float] | str = vector
        if encoding_format == "base64":
            raw = np.asarray(vector, dtype="<f4").tobytes()
            encoded = base64.b64encode(raw).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class ConfigUpdate(BaseModel):
    """Body of `POST /standin/config`."""

    model_config = ConfigDict(extra="forbid")

    fail_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    latency_ms: float | None = Field(default=None, ge=0.0)


class RuntimeSettings(BaseModel):
    """Settings that can change while the server runs."""

    fail_rate: float
    latency_ms: float


class ProfileStats(BaseModel):
    """Counters of one script profile (`profiles:`), in `GET /standin/stats`."""

    profile: int
    model: str
    match: str | None = None
    requests: int = 0
    failures: int = 0
    timeouts: int = 0
    correct: int = 0
    """Answers where a `pass_rate` rule chose `reply`."""
    incorrect: int = 0
    """Answers where a `pass_rate` rule chose `otherwise`."""


class StandinStats(BaseModel):
    """Counts returned by `GET /standin/stats`."""

    requests: int = 0
    served: int = 0
    failed: int = 0
    injected_failures: int = 0
    scripted_failures: int = 0
    by_model: dict[str, int] = Field(default_factory=dict)
    by_source: dict[str, int] = Field(default_factory=dict)
    profiles: list[ProfileStats] = Field(default_factory=list)


def count_tokens(text: str) -> int:
    """Return the stand-in's token count: one token per four characters, rounded up."""
    return (len(text) + 3) // 4


def usage(
    prompt: str, completions: list[str], completion_tokens: int | None = None
) -> dict[str, int]:
    """Return an OpenAI usage object for one prompt and its completions (`completion_tokens`
    overrides the counted completion tokens)."""
    prompt_tokens = count_tokens(prompt)
    if completion_tokens is None:
        completion_tokens = sum(count_tokens(c) for c in completions)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion(
    completion_id: str,
    created: int,
    model: str,
    prompt: str,
    contents: list[str],
    completion_tokens: int | None = None,
) -> dict[str, Any]:
    """Return a `chat.completion` object with one choice per content."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for index, content in enumerate(contents)
        ],
        "usage": usage(prompt, contents, completion_tokens),
    }


def split_for_stream(text: str) -> list[str]:
    """Split text into word-sized pieces that join back to exactly the text."""
    return [piece for piece in re.findall(r"\S*\s*", text) if piece]


def _chunk(
    completion_id: str,
    created: int,
    model: str,
    choices: list[dict[str, Any]],
    with_usage_field: bool,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }
    if with_usage_field:
        chunk["usage"] = None
    return chunk


def stream_chunks(
    completion_id: str,
    created: int,
    model: str,
    prompt: str,
    contents: list[str],
    include_usage: bool,
    completion_tokens: int | None = None,
) -> list[dict[str, Any]]:
    """Return the `chat.completion.chunk` objects of a streamed answer, usage chunk last."""
    chunks: list[dict[str, Any]] = []
    for index, content in enumerate(contents):
        pieces = [{"role": "assistant", "content": ""}] + [
            {"content": piece} for piece in split_for_stream(content)
        ]
        for delta in pieces:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
            chunks.append(_chunk(completion_id, created, model, [choice], include_usage))
        final = {"index": index, "delta": {}, "logprobs": None, "finish_reason": "stop"}
        chunks.append(_chunk(completion_id, created, model, [final], include_usage))
    if include_usage:
        last = _chunk(completion_id, created, model, [], False)
        last["usage"] = usage(prompt, contents, completion_tokens)
        chunks.append(last)
    return chunks


def sse(data: dict[str, Any] | str) -> str:
    """Encode one server-sent event line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n"


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    503: "service_unavailable",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Return an OpenAI-style error body."""
    kind = _ERROR_TYPES.get(status, "error")
    return {"error": {"message": message, "type": kind, "code": status}}
