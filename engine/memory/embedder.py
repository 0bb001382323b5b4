"""Embeddings for memories and queries, through the `embedder` model group when models.yaml
has one (vLLM serves embedding models in production; the stand-in answers deterministic
stand-in vectors). Without the group, or when it fails, memories are kept and recalled by
full-text search alone: an embedding is an improvement, never a requirement.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.models import ModelRouter

log = logging.getLogger(__name__)
EMBEDDER_GROUP = "embedder"


async def embed(
    models: ModelRouter | None, texts: list[str]
) -> tuple[list[list[float]] | None, str]:
    """(one vector per text, or None; what happened, for evidence)."""
    if not texts:
        return [], "nothing to embed"
    if models is None or EMBEDDER_GROUP not in models.groups():
        return None, f"no {EMBEDDER_GROUP!r} model group: full-text search only"
    from adapters.models import ModelCallError

    try:
        vectors = await models.embed(EMBEDDER_GROUP, texts)
    except ModelCallError as exc:
        log.warning("embedding failed, full-text search only: %s", exc.message)
        return None, f"{EMBEDDER_GROUP} unavailable: {exc.message[:200]}"
    return vectors, f"{EMBEDDER_GROUP}: {len(vectors[0]) if vectors else 0} dims"
