"""models.yaml: model groups, their deployments and the router's settings, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError


class Deployment(BaseModel):
    """One server behind a model group (a vLLM replica)."""

    id: str
    model: str  # e.g. hosted_vllm/coder
    api_base: str
    api_key: str | None = None  # or api_key_env
    api_key_env: str | None = None
    weight: int = 1
    # how the server takes a JSON schema for constrained output: `json_schema` (OpenAI, vLLM)
    # or `json_object` with a `schema` field (llama-cpp-python's grammar-constrained form)
    structured_output: Literal["json_schema", "json_object"] = "json_schema"
    # tokens of prompt plus answer the served model holds (None: unknown, no budget applied)
    context_length: int | None = Field(default=None, ge=256)
    # sampling of this deployment's answers unless a call sets its own: groups served by one
    # model sample differently, so that a consensus gets different candidates from it
    temperature: float = Field(default=0.2, ge=0, le=2)
    # answer tokens when a call sets no limit (a small model can repeat itself to the window)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None


class ModelGroup(BaseModel):
    """Deployments answering to one name (`coder`), and the groups to fall back to."""

    deployments: list[Deployment] = Field(min_length=1)
    fallbacks: list[str] = Field(default_factory=list)


class RouterSettings(BaseModel):
    """Timeouts, retries and the in-flight cap."""

    timeout_seconds: float = 120
    num_retries: int = 2
    max_in_flight: int = 32
    auto_groups: list[str] = Field(default_factory=list)  # `groups: auto` (ModelRouter)


class ModelsConfig(BaseModel):
    """The parsed models.yaml."""

    settings: RouterSettings = Field(default_factory=RouterSettings)
    groups: dict[str, ModelGroup] = Field(min_length=1)


class ModelsConfigError(ValueError):
    """models.yaml is missing or wrong; the message names the file and the field."""


def load_models_config(path: Path) -> ModelsConfig:
    """Read and validate models.yaml."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ModelsConfigError(f"{path}: file not found; set WEAVERGEN_MODELS") from None
    except yaml.YAMLError as exc:
        raise ModelsConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        config = ModelsConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelsConfigError(f"{path}: {where}: {first['msg']}") from None
    for name, group in config.groups.items():
        for fb in group.fallbacks:
            if fb not in config.groups:
                raise ModelsConfigError(f"{path}: groups.{name}.fallbacks: unknown group {fb!r}")
    return config


def single_endpoint_config(
    api_base: str,
    groups: list[str],
    *,
    timeout_seconds: float = 30,
    num_retries: int = 1,
    max_in_flight: int = 32,
) -> str:
    """A models.yaml text where every group is one deployment at the same OpenAI-compatible
    endpoint, serving a model named like the group (the stand-in serves any name)."""
    config = ModelsConfig(
        settings=RouterSettings(
            timeout_seconds=timeout_seconds, num_retries=num_retries, max_in_flight=max_in_flight
        ),
        groups={
            g: ModelGroup(
                deployments=[
                    Deployment(id=f"{g}-standin-1", model=f"hosted_vllm/{g}", api_base=api_base)
                ]
            )
            for g in groups
        },
    )
    return yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)
