"""What the stage-2 ranker learns from: every memory a run recalled, with the features it
was ranked on (kept in the `memory.recall` step's result), labelled by whether that run then
completed. `keep_ranker_fitted` refits `RANKER` from the latest `MAX_SAMPLES` of them now and
then every hour (a background task of each process, beside the classifier's and the quality
prediction's refits); until there are enough (`rank.MIN_SAMPLES`, both outcomes) the
documented formula ranks.

A run that completed is a weak label for each memory it recalled (the memory may not have
been why), but it is the label there is, and a memory that keeps being recalled by runs that
fail is worth ranking lower.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.memory.rank import FEATURES, RANKER, Ranker

log = logging.getLogger(__name__)

MAX_SAMPLES = 20_000
REFIT_SECONDS = 3600.0
# the latest finished runs' recall results (most recent first), with how each run ended
RECALLS = text(
    "SELECT s.result -> 'memories' AS memories, r.status FROM steps AS s "
    "JOIN runs AS r ON r.id = s.run_id "
    "WHERE s.operator = 'memory.recall' AND s.state = 'completed' "
    "AND r.status IN ('completed', 'failed') "
    "AND jsonb_array_length(COALESCE(s.result -> 'memories', '[]'::jsonb)) > 0 "
    "ORDER BY s.finished_at DESC LIMIT :limit"
)


async def recall_samples(
    db: AsyncEngine, limit: int = MAX_SAMPLES
) -> list[tuple[dict[str, float], bool]]:
    """(features, the run completed) of each memory recalled by the latest finished runs;
    memories recorded without every feature (by an older version) are left out."""
    samples: list[tuple[dict[str, float], bool]] = []
    async with db.connect() as conn:
        rows = (await conn.execute(RECALLS, {"limit": limit})).all()
    for memories, status in rows:
        for m in memories or []:
            f = m.get("features") if isinstance(m, dict) else None
            if isinstance(f, dict) and all(isinstance(f.get(n), int | float) for n in FEATURES):
                samples.append(({n: float(f[n]) for n in FEATURES}, status == "completed"))
                if len(samples) >= limit:
                    return samples
    return samples


async def keep_ranker_fitted(
    db: AsyncEngine, every: float = REFIT_SECONDS, ranker: Ranker = RANKER
) -> None:
    """Refit now and then every `every` seconds; a failure is logged and the ranker in use
    stays."""
    while True:
        try:
            samples = await recall_samples(db)
            fitted = await asyncio.to_thread(ranker.fit, samples)
            log.info("memory ranker: %d recall outcomes, %s", len(samples), ranker.description)
            if not fitted:
                log.debug("memory ranker keeps the formula")
        except Exception as exc:  # noqa: BLE001 - the formula still ranks
            log.warning("memory ranker not refitted: %s", exc)
        await asyncio.sleep(every)
