"""Reading the files that earlier steps produced, from their results."""

from __future__ import annotations

from typing import Any

from engine.errors import OperatorError
from engine.steps.contract import StepContext


async def files_of(results: Any, ctx: StepContext) -> dict[str, str]:
    """Path -> content for the files of one result or a list of results (later ones win)."""
    items = results if isinstance(results, list) else [results]
    out: dict[str, str] = {}
    for item in items:
        if item is None:
            continue
        if not isinstance(item, dict) or not isinstance(item.get("files"), dict):
            raise OperatorError(
                f"step {ctx.element_id}: expected a step result with 'files', got "
                f"{type(item).__name__}",
                code="bad_parameters",
            )
        for path, artifact_id in item["files"].items():
            artifact = await ctx.store.get_artifact(str(artifact_id))
            out[path] = artifact["content"]
    return out


def artifact_ids(results: Any) -> dict[str, str]:
    """Path -> artifact id across results, without reading contents."""
    items = results if isinstance(results, list) else [results]
    out: dict[str, str] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("files"), dict):
            out.update({str(k): str(v) for k, v in item["files"].items()})
    return out
