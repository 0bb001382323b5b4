"""models.yaml: the single-endpoint configuration the benches and tests write reads back as
the configuration it describes."""

from __future__ import annotations

from pathlib import Path

from adapters.models import load_models_config, single_endpoint_config


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
