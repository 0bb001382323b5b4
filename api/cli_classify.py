"""`weavergen classify "TEXT"`: which pattern a request gets, and who decided."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from api.cli_common import console
from api.model_server import models_file_in_use


def register(app: typer.Typer) -> None:
    """Add `classify` to `app`."""
    app.command()(classify)


def classify(
    text: Annotated[str, typer.Argument(help="the request, as a person would write it")],
    language: Annotated[str, typer.Option(help="python, javascript or go")] = "python",
    no_model: Annotated[
        bool, typer.Option("--no-model", help="never ask the classifier model")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Classify a request: rules, then the learned classifier, then (unless --no-model) the
    classifier model of models.yaml when both are unsure. `source`: rules, learned, model or
    none (unsure and no model asked)."""
    from engine.decisions.learned import classify_request

    settled = classify_request(text)
    if settled["source"] == "none" and not no_model:
        asked = asyncio.run(_ask_model(text, language))
        settled = asked if asked is not None else settled
    out = {k: settled[k] for k in ("pattern", "task_type", "confidence", "source")}
    if as_json:
        print(json.dumps(out))
    else:
        console.print(
            f"{out['pattern']} ({out['task_type']}), confidence {out['confidence']:.2f}, "
            f"decided by {out['source']}"
        )


async def _ask_model(text: str, language: str) -> dict[str, Any] | None:
    from adapters.models import ModelRouter, load_models_config
    from engine.ops.intent import ask_model
    from engine.prompts import PromptLibrary
    from engine.runs.requests import RunRequest
    from engine.settings import Settings

    settings = Settings()
    models = ModelRouter(load_models_config(models_file_in_use(settings)))
    prompts = PromptLibrary(settings.templates_dir)
    request = RunRequest(text=text, language=language)  # type: ignore[arg-type]
    answer = await ask_model(models, prompts, request, "cli")
    return answer if answer["pattern"] else None
