"""Options of the stand-in model server."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from standin.embeddings import DEFAULT_DIM, MAX_DIM, MIN_DIM
from standin.script import Script

DEFAULT_MODELS = ["coder", "reviewer", "classifier"]
DEFAULT_EMBEDDING_MODELS = ["embedder"]


class StandinOptions(BaseModel):
    """Everything the stand-in server needs; built by the CLI or directly by tests."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port")
    models: list[str] = Field(default_factory=lambda: list(DEFAULT_MODELS))
    latency_ms: float = Field(default=0.0, ge=0)
    fail_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int = 0
    script_path: Path | None = None
    script: Script | None = None
    humaneval: bool = False
    accuracy: float = Field(default=0.7, ge=0.0, le=1.0)
    model_accuracy: dict[str, float] = Field(default_factory=dict)
    humaneval_models: list[str] | None = Field(
        default=None, description="models that replay HumanEval; None means all"
    )
    embedding_models: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EMBEDDING_MODELS),
        description="embedding model names listed by /v1/models (any name is served)",
    )
    embedding_dim: int = Field(
        default=DEFAULT_DIM,
        ge=MIN_DIM,
        le=MAX_DIM,
        description="dimensions of the stand-in's feature-hashing embeddings",
    )

    @field_validator("model_accuracy")
    @classmethod
    def _accuracies_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for model, accuracy in value.items():
            if not 0.0 <= accuracy <= 1.0:
                raise ValueError(f"accuracy for {model!r} must be in [0, 1], got {accuracy}")
        return value

    @model_validator(mode="after")
    def _one_script_source(self) -> StandinOptions:
        if self.script is not None and self.script_path is not None:
            raise ValueError("give either `script` or `script_path`, not both")
        return self


def parse_model_accuracy(text: str) -> dict[str, float]:
    """Parse `coder=0.5,reviewer=0.6` into a dict; raise ValueError on bad items."""
    result: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        model, sep, value = item.partition("=")
        if not sep or not model.strip():
            raise ValueError(f"expected MODEL=ACCURACY, got {item!r}")
        try:
            accuracy = float(value)
        except ValueError as exc:
            raise ValueError(f"accuracy for {model.strip()!r} is not a number: {value!r}") from exc
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"accuracy for {model.strip()!r} must be in [0, 1], got {accuracy}")
        result[model.strip()] = accuracy
    return result
