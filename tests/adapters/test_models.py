"""models.yaml: the single-endpoint configuration the benches and tests write reads back as
the configuration it describes; embeddings go through LiteLLM to the stand-in over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.models import (
    ModelCallError,
    ModelRouter,
    load_models_config,
    single_endpoint_config,
)
from bench.serving import free_port
from standin.embeddings import cosine, embed_many
from tests.servers import Standin


def test_single_endpoint_config_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        single_endpoint_config(
            "http://127.0.0.1:8000/v1", ["coder", "reviewer"], timeout_seconds=20, max_in_flight=64
        )
    )
    config = load_models_config(path)
    assert (config.settings.timeout_seconds, config.settings.num_retries) == (20, 1)
    assert config.settings.max_in_flight == 64
    assert list(config.groups) == ["coder", "reviewer"]
    (deployment,) = config.groups["reviewer"].deployments
    assert deployment.id == "reviewer-standin-1"
    assert deployment.model == "hosted_vllm/reviewer"
    assert deployment.api_base == "http://127.0.0.1:8000/v1"
    assert config.groups["reviewer"].fallbacks == []


def _router(tmp_path: Path, api_base: str, groups: list[str], **options: Any) -> ModelRouter:
    path = tmp_path / "models.yaml"
    path.write_text(single_endpoint_config(api_base, groups, **options))
    return ModelRouter(load_models_config(path))


async def test_embed_through_litellm_to_the_standin(tmp_path: Path, standin: Standin) -> None:
    """ModelRouter.embed → LiteLLM Router `aembedding` (hosted_vllm) → HTTP → the stand-in's
    `/v1/embeddings`: one vector per text, in order across batches, equal to the stand-in's
    own function."""
    router = _router(tmp_path, f"{standin.url}/v1", ["coder", "embedder"])
    assert router.has_group("embedder") and not router.has_group("nope")
    texts = [f"return the sum of the first {i} odd numbers" for i in range(300)]
    texts[7] = "sort a list of words alphabetically"
    texts[8] = "sorting lists of words"
    vectors = await router.embed("embedder", texts, batch_size=128)  # 3 calls
    assert len(vectors) == 300
    assert {len(v) for v in vectors} == {256}
    assert vectors == embed_many(texts)
    assert cosine(vectors[7], vectors[8]) > cosine(vectors[7], vectors[0])
    assert await router.embed("embedder", []) == []


async def test_embed_failures_are_model_call_errors(tmp_path: Path, standin: Standin) -> None:
    router = _router(tmp_path, f"{standin.url}/v1", ["embedder"])
    with pytest.raises(ModelCallError) as unknown:
        await router.embed("coder", ["x"])
    assert not unknown.value.retryable
    assert "unknown model group 'coder'" in unknown.value.message
    with pytest.raises(ModelCallError) as bad:
        await router.embed("embedder", ["fine", ""])
    assert not bad.value.retryable  # a 400: sending it again cannot help
    assert "model group 'embedder' failed (BadRequestError)" in bad.value.message
    assert "embedder-standin-1" in bad.value.message
    assert "item 1 is an empty string" in bad.value.message

    down = _router(tmp_path, f"http://127.0.0.1:{free_port()}/v1", ["embedder"], num_retries=0)
    with pytest.raises(ModelCallError) as refused:
        await down.embed("embedder", ["x"])
    assert refused.value.retryable
    assert "embedder-standin-1" in refused.value.message
