"""The embedded CPU model's pieces that need no running model: the GGUF header reader on the
model `make install` put in place, the models config it serves under, constrained-output
forms per deployment, and token budgets for small context windows (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.gguf_meta import GgufError, read_info
from adapters.local_model import LocalModelError, LocalModelServer, embedded_config, find_model_file
from adapters.models import ModelRouter, ModelsConfig
from adapters.token_budget import MIN_ANSWER, estimate_tokens, fit


def test_the_installed_model_describes_itself() -> None:
    info = read_info(find_model_file())
    assert info.architecture == "llama"
    assert info.context_length == 8192  # SmolLM2-135M-Instruct was trained on 8k tokens
    assert info.size_label == "135M"


def test_a_file_that_is_not_gguf_or_is_cut_short_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "model.gguf"
    other.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(GgufError, match="not a GGUF model file"):
        read_info(other)
    short = tmp_path / "short.gguf"
    short.write_bytes(find_model_file().read_bytes()[:5000])
    with pytest.raises(GgufError, match="cut short"):
        read_info(short)


def test_a_missing_model_or_server_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="WEAVERGEN_LOCAL_MODEL_PATH"):
        find_model_file(tmp_path / "nothing.gguf")
    with pytest.raises(LocalModelError, match="make install"):
        LocalModelServer(port=1, python=tmp_path / "python")


def test_the_context_window_is_at_most_what_the_model_was_trained_on() -> None:
    assert LocalModelServer(port=1, context=65536).context == 8192
    server = LocalModelServer(port=1, context=2048, threads=3)
    assert server.context == 2048 and "135M parameters" in server.describe()
    assert "3 CPU threads" in server.describe()


def test_every_group_but_the_embedder_goes_to_the_embedded_server() -> None:
    config = embedded_config("http://127.0.0.1:9/v1", ["coder", "classifier", "embedder"], 4096)
    assert sorted(config.groups) == ["classifier", "coder"]
    (deployment,) = config.groups["coder"].deployments
    assert deployment.structured_output == "json_object" and deployment.context_length == 4096
    assert (
        deployment.max_tokens == 1024 and config.groups["coder"].deployments[0].temperature == 0.2
    )


def _config(form: str, context: int | None = None) -> ModelsConfig:
    deployment = {"id": "a", "model": "hosted_vllm/a", "api_base": "http://127.0.0.1:9/v1"}
    other = {**deployment, "id": "b", "structured_output": form, "context_length": context}
    return ModelsConfig.model_validate(
        {
            "groups": {
                "coder": {"deployments": [deployment], "fallbacks": ["small"]},
                "small": {"deployments": [other]},
                "big": {"deployments": [deployment]},
            }
        }
    )


def test_constrained_output_takes_the_form_every_reachable_deployment_takes() -> None:
    schema = {"type": "object"}
    router = ModelRouter(_config("json_object", 2048))
    # coder falls back to `small`, a llama-cpp-python server: the json_object form with schema
    assert router._response_format("coder", schema) == {"type": "json_object", "schema": schema}
    assert router._response_format("big", schema)["type"] == "json_schema"
    assert router._context_length("coder") == 2048 and router._context_length("big") is None
    vllm = ModelRouter(_config("json_schema"))
    assert vllm._response_format("coder", schema)["json_schema"]["schema"] == schema


def test_an_answer_gets_what_the_prompt_leaves_of_the_window() -> None:
    messages = [{"role": "system", "content": "x" * 300}, {"role": "user", "content": "y" * 3000}]
    kept, answer = fit(messages, 4096, 512)
    assert kept == messages and answer == 512
    kept, answer = fit(messages, 4096, None)
    assert answer == 4096 - estimate_tokens(messages)


def test_a_prompt_too_long_for_the_window_loses_its_middle_not_its_ends() -> None:
    user = "REQUEST at the start. " + "memory " * 3000 + " INSTRUCTIONS at the end."
    messages = [{"role": "system", "content": "system"}, {"role": "user", "content": user}]
    kept, answer = fit(messages, 2048, 1024)
    assert answer >= MIN_ANSWER and estimate_tokens(kept) + answer <= 2048
    text = kept[1]["content"]
    assert text.startswith("REQUEST at the start.") and text.endswith("INSTRUCTIONS at the end.")
    assert "characters cut to fit the model's context of 2048 tokens" in text
    assert messages[1]["content"] == user  # the caller's messages are not changed
