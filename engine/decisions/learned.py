"""The learned request classifier, between the rules and the classifier model.

A TF-IDF of words and word pairs plus character n-grams (robust to typos and inflections)
feeds a logistic regression over the four patterns (scikit-learn). It is fitted on the
labelled requests the project ships (`engine/decisions/requests.jsonl`, written by the
developers; the held-out bench set is bench/classify/bench.jsonl) and on the patterns people
chose for their runs (`refit`). The cascade (`classify_request`) asks the rules first, the
learned classifier when the rules are unsure, and leaves the rest to the model ("unsure").
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.decisions.rules import rules

log = logging.getLogger(__name__)
TRAINING = Path(__file__).with_name("requests.jsonl")
TASK_TYPES = {
    "quick": "function",
    "standard": "feature",
    "bug_fix": "bug_fix",
    "migration": "schema_change",
}
RULES_SURE = 0.85  # the rules' confidence from which they decide alone (chosen by 5-fold CV)
LEARNED_SURE = 0.45  # the classifier's probability from which it decides (5-fold CV)


def load_examples(path: Path = TRAINING) -> list[tuple[str, str]]:
    """(text, pattern) pairs of a JSON-lines file of labelled requests."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append((str(row["text"]), str(row["pattern"])))
    return out


class LearnedClassifier:
    """Patterns from request text, fitted on labelled examples."""

    def __init__(self, examples: Iterable[tuple[str, str]]) -> None:
        # imported here: scikit-learn takes most of a second to import, and most processes
        # (the CLI, a worker until its first classification) never need it
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline

        texts, labels = zip(*examples, strict=True)
        features = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
                ),
            ]
        )
        self.model = make_pipeline(features, LogisticRegression(C=16.0, max_iter=2000))
        self.model.fit(list(texts), list(labels))
        self.size = len(texts)

    def predict(self, text: str) -> tuple[str, float]:
        """The likeliest pattern and its probability."""
        probabilities = self.model.predict_proba([text])[0]
        best = int(probabilities.argmax())
        return str(self.model.classes_[best]), float(probabilities[best])


_lock = threading.Lock()
_extra: list[tuple[str, str]] = []


@lru_cache(maxsize=1)  # the current fit only
def _fitted(version: int) -> LearnedClassifier:
    return LearnedClassifier([*load_examples(), *_extra])


_version = 0


def learned() -> LearnedClassifier:
    """The classifier for this process (fitted once, again after `refit`)."""
    return _fitted(_version)


def refit(chosen: Iterable[tuple[str, str]]) -> int:
    """Have the classifier fitted again, at its next use, with the patterns people chose
    for their runs (request text, pattern); returns how many of those there are."""
    global _version
    with _lock:
        _extra[:] = [(t, p) for t, p in chosen if p in TASK_TYPES]
        _version += 1
        return len(_extra)


def classify_request(text: str) -> dict[str, Any]:
    """Rules first; the learned classifier when they are unsure; `source` "none" when both
    are unsure (the caller may ask the model)."""
    ruled = rules(text)
    if ruled["confidence"] >= RULES_SURE:
        return {**ruled, "source": "rules"}
    pattern, probability = learned().predict(text)
    if probability >= LEARNED_SURE:
        return {
            "pattern": pattern,
            "task_type": TASK_TYPES[pattern],
            "confidence": round(probability, 3),
            "matched": ruled["matched"],
            "source": "learned",
        }
    return {**ruled, "source": "none", "learned_guess": pattern, "learned_p": round(probability, 3)}


REFIT_SECONDS = 3600.0
CHOSEN = (
    "SELECT request->>'text', request->>'pattern' FROM runs "
    "WHERE request->>'pattern' IS NOT NULL AND created_by IS NOT NULL "
    "ORDER BY created_at DESC LIMIT 5000"
)


async def keep_fitted(db: AsyncEngine, every: float = REFIT_SECONDS) -> None:
    """Fit the classifier with the patterns people chose for their runs, now and then every
    `every` seconds (a background task of each process; failures are logged, not raised)."""
    while True:
        try:
            async with db.connect() as conn:
                chosen = [(t, p) for t, p in (await conn.execute(text(CHOSEN))).all() if t]
            taken = refit(chosen)
            log.info("request classifier: %d patterns people chose, fitted at next use", taken)
        except Exception as exc:  # the shipped examples still classify
            log.warning("request classifier not refitted: %s", exc)
        await asyncio.sleep(every)
