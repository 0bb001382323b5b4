"""OpenAI wire format over real HTTP: health, models, labels, usage, streaming, errors."""

from __future__ import annotations

import json

import httpx

from standin.protocol import count_tokens, split_for_stream
from standin.script import parse_script
from tests.standin.conftest import StartStandin
from tests.standin.helpers import chat_body, reply_text, sse_events

REPLY = "def add(a, b):\n    return a + b\n"
SCRIPT = parse_script({"rules": [{"match": "add", "reply": REPLY}]})


async def test_health_and_standin_label(start_standin: StartStandin) -> None:
    server = start_standin()
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "standin": True}
    assert response.headers["x-weavergen-standin"] == "true"


async def test_models_are_owned_by_the_standin(start_standin: StartStandin) -> None:
    server = start_standin(models=["coder", "judge"])
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.get("/models")
    body = response.json()
    assert body["object"] == "list"
    # chat models, then the embedding models (`--embedding-models`, default `embedder`)
    assert [m["id"] for m in body["data"]] == ["coder", "judge", "embedder"]
    assert {m["owned_by"] for m in body["data"]} == {"weavergen-standin"}


async def test_completion_shape_and_usage(start_standin: StartStandin) -> None:
    server = start_standin(script=SCRIPT)
    prompt = "please add two numbers"
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post(
            "/chat/completions", json=chat_body(prompt, model="some-unlisted-model")
        )
    body = response.json()
    assert response.headers["x-weavergen-standin"] == "true"
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-standin-")
    assert body["model"] == "some-unlisted-model"
    assert isinstance(body["created"], int)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": REPLY}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {
        "prompt_tokens": count_tokens(prompt),
        "completion_tokens": count_tokens(REPLY),
        "total_tokens": count_tokens(prompt) + count_tokens(REPLY),
    }
    assert count_tokens(REPLY) == 8  # 32 characters, four per token


async def test_n_choices(start_standin: StartStandin) -> None:
    server = start_standin(script=SCRIPT)
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/chat/completions", json=chat_body("add", n=3))
    choices = response.json()["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert {c["message"]["content"] for c in choices} == {REPLY}
    assert response.json()["usage"]["completion_tokens"] == 3 * count_tokens(REPLY)


async def test_streaming_chunks_rebuild_the_reply(start_standin: StartStandin) -> None:
    server = start_standin(script=SCRIPT)
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/chat/completions", json=chat_body("add", stream=True))
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-weavergen-standin"] == "true"
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == REPLY
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)


async def test_streaming_usage_in_last_chunk(start_standin: StartStandin) -> None:
    server = start_standin(script=SCRIPT)
    body = chat_body("add", stream=True, stream_options={"include_usage": True})
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/chat/completions", json=body)
    chunks = sse_events(response.text)[:-1]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == count_tokens(REPLY)
    assert chunks[-1]["usage"]["prompt_tokens"] == count_tokens("add")
    assert all(c["usage"] is None for c in chunks[:-1])


def test_split_for_stream_is_lossless() -> None:
    text = "  leading\n\tcode  block\n\n"
    pieces = split_for_stream(text)
    assert "".join(pieces) == text
    assert len(pieces) > 2


async def test_json_schema_request_gets_the_reply_unchanged(start_standin: StartStandin) -> None:
    server = start_standin(script=SCRIPT)
    body = chat_body(
        "add",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        },
    )
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/chat/completions", json=body)
    text = reply_text(response)
    assert text == REPLY
    try:
        json.loads(text)
        parsed = True
    except json.JSONDecodeError:
        parsed = False
    assert parsed is False


async def test_invalid_request_is_an_openai_400(start_standin: StartStandin) -> None:
    server = start_standin()
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/chat/completions", json={"model": "coder"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "messages" in error["message"]
    assert response.headers["x-weavergen-standin"] == "true"
