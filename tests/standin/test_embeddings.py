"""`POST /v1/embeddings`: the stand-in's feature-hashing vectors over real HTTP (not a model)."""

from __future__ import annotations

import base64
import math
import time
from typing import Any

import httpx
import numpy as np
import pytest

from standin.embeddings import DEFAULT_DIM, cosine, embed, embed_many
from standin.protocol import count_tokens
from tests.standin.conftest import StartStandin


def _vectors(body: dict[str, Any]) -> list[list[float]]:
    return [item["embedding"] for item in body["data"]]


async def test_shape_usage_and_labels(start_standin: StartStandin) -> None:
    server = start_standin()
    texts = ["sort a list of numbers", "parse a date"]
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/embeddings", json={"model": "embedder", "input": texts})
        models = (await client.get("/models")).json()
        stats = (await client.get(f"{server.base_url}/standin/stats")).json()
    assert response.status_code == 200, response.text
    assert response.headers["x-weavergen-standin"] == "true"
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == "embedder"
    assert [(d["object"], d["index"]) for d in body["data"]] == [
        ("embedding", 0),
        ("embedding", 1),
    ]
    tokens = sum(count_tokens(t) for t in texts)
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    for vector in _vectors(body):
        assert len(vector) == DEFAULT_DIM
        assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, abs_tol=1e-5)
    listed = {m["id"]: m["owned_by"] for m in models["data"]}
    assert listed["embedder"] == "weavergen-standin"
    assert stats["by_source"] == {"embedding": 1}
    assert stats["served"] == 1


async def test_deterministic_across_servers_and_calls(start_standin: StartStandin) -> None:
    text = "Return the longest palindromic substring of a string"
    answers = []
    for _ in range(2):
        server = start_standin()
        async with httpx.AsyncClient(base_url=server.api_base) as client:
            for body in ({"input": text}, {"input": [text, "other"]}):
                response = await client.post("/embeddings", json={"model": "e", **body})
                answers.append(_vectors(response.json())[0])
    assert all(a == answers[0] for a in answers)
    # the same function in-process (the bench's brute-force baseline uses it)
    assert answers[0] == embed(text)


def test_similar_texts_are_closer_than_unrelated() -> None:
    base = "sort a list of numbers in ascending order"
    similar = "sorting the numbers list ascending"
    stem = "sorts numbered lists"
    unrelated = "parse the http request headers into a dictionary"
    assert cosine(embed(base), embed(similar)) > 0.5
    assert cosine(embed(base), embed(stem)) > 0.2  # stems share character trigrams
    assert abs(cosine(embed(base), embed(unrelated))) < 0.15
    assert cosine(embed(base), embed(base)) == pytest.approx(1.0, abs=1e-5)
    # identifiers are split like words: snake_case and camelCase meet plain words
    assert cosine(embed("count_vowels(word)"), embed("countVowels of a word")) > 0.9


def test_unrelated_texts_are_near_zero_on_average() -> None:
    texts = [
        "check whether a number is prime",
        "merge two sorted arrays",
        "convert celsius to fahrenheit",
        "reverse the words of a sentence",
        "count the vowels in a string",
        "compute the greatest common divisor",
        "flatten nested lists",
        "validate an email address",
    ]
    vectors = embed_many(texts)
    pairs = [cosine(a, b) for i, a in enumerate(vectors) for b in vectors[i + 1 :]]
    assert sum(abs(p) for p in pairs) / len(pairs) < 0.1


async def test_dimensions_option_and_request_field(start_standin: StartStandin) -> None:
    server = start_standin(embedding_dim=64)
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        default = await client.post("/embeddings", json={"model": "e", "input": "abc def"})
        asked = await client.post(
            "/embeddings", json={"model": "e", "input": "abc def", "dimensions": 32}
        )
    assert len(_vectors(default.json())[0]) == 64
    assert len(_vectors(asked.json())[0]) == 32


async def test_base64_encoding_is_little_endian_float32(start_standin: StartStandin) -> None:
    server = start_standin()
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post(
            "/embeddings",
            json={"model": "e", "input": ["merge sorted lists"], "encoding_format": "base64"},
        )
    encoded = response.json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
    assert np.allclose(decoded, embed("merge sorted lists"), atol=1e-6)


async def test_batch_of_256_keeps_order_and_is_fast(start_standin: StartStandin) -> None:
    server = start_standin()
    texts = [f"task {i}: return the {i}th prime number below {i * 13}" for i in range(256)]
    async with httpx.AsyncClient(base_url=server.api_base, timeout=30) as client:
        started = time.perf_counter()
        response = await client.post("/embeddings", json={"model": "e", "input": texts})
        elapsed = time.perf_counter() - started
    body = response.json()
    assert [d["index"] for d in body["data"]] == list(range(256))
    assert _vectors(body) == embed_many(texts)
    assert elapsed < 2.0  # 100k texts in batches of 256 are 391 such calls


def test_in_process_speed() -> None:
    texts = [
        f"write a function {i} that sorts words alphabetically and counts vowels in {i * 7}"
        for i in range(10_000)
    ]
    started = time.perf_counter()
    for i in range(0, len(texts), 256):
        embed_many(texts[i : i + 256])
    assert time.perf_counter() - started < 6.0  # about 1 s on a 2-core development machine


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "e", "input": []}, "empty list"),
        ({"model": "e", "input": ["ok", ""]}, "item 1 is an empty string"),
        ({"model": "e", "input": [[1, 2, 3]]}, "not token ids"),
        ({"model": "e", "input": [1, 2]}, "item 0 is int"),
        ({"model": "e", "input": {"text": "x"}}, "must be a string or a list of strings"),
        ({"model": "e", "input": ["x"] * 2049}, "at most 2048"),
        ({"model": "e", "input": "x", "dimensions": 4}, "dimensions"),
        ({"model": "e", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x"}, "model"),
    ],
)
async def test_bad_input_is_400_with_a_clear_message(
    start_standin: StartStandin, body: dict[str, Any], needle: str
) -> None:
    server = start_standin()
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/embeddings", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("stand-in model: invalid request:")
    assert needle in error["message"]


async def test_injected_failure_applies_to_embeddings(start_standin: StartStandin) -> None:
    server = start_standin(fail_rate=1.0)
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/embeddings", json={"model": "e", "input": "x"})
    assert response.status_code == 503
    assert "injected failure" in response.json()["error"]["message"]


@pytest.mark.parametrize("provider", ["hosted_vllm", "openai"])
async def test_through_litellm_providers(start_standin: StartStandin, provider: str) -> None:
    """LiteLLM's `hosted_vllm/` and `openai/` providers both reach `/v1/embeddings` with an
    `api_base` and read the floats back (neither asks for base64 on its own)."""
    import litellm

    server = start_standin()
    texts = ["merge two sorted lists", "merging sorted lists"]
    response = await litellm.aembedding(
        model=f"{provider}/embedder",
        api_base=server.api_base,
        api_key="none",
        input=texts,
        timeout=10,
    )
    assert [item["embedding"] for item in response.data] == embed_many(texts)
    assert response.usage.prompt_tokens == sum(count_tokens(t) for t in texts)
