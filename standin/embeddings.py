"""The stand-in embedding: feature hashing, deterministic, no model weights — not a real model.

`embed(text, dim)` turns a text into a unit vector of `dim` floats built only from its
surface: lowercase words (camelCase and snake_case split), word bigrams and the character
trigrams of each word (with word boundaries, so `sorted`, `sorting` and `sort` share
`#so`, `sor`, `ort`). Each feature is hashed with BLAKE2b (stable across processes and
machines, unlike Python's `hash()`) to one dimension and a sign, weighted by its class and a
sublinear term frequency (1 + ln tf), and the vector is L2-normalised. Common English words
(`the`, `a`, `of`, …) are left out of the word and bigram features, so that texts share weight
only when they share content words or word stems; unrelated texts land near 0 (the hashing
leaves them about ±1/sqrt(dim) apart by chance).

It stands in for an embedding model served by vLLM so that every embedding call goes through
LiteLLM and HTTP as in production; similarity here is lexical, never semantic.
"""

from __future__ import annotations

import itertools
import re
from hashlib import blake2b

import numpy as np

DEFAULT_DIM = 256
"""Dimensions of a stand-in embedding unless the server or the request says otherwise."""
MIN_DIM = 8
MAX_DIM = 4096

WORD_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.6
TRIGRAM_WEIGHT = 0.35

STOPWORDS = frozenset(
    """a an and are as at be been but by can could do does for from get give has have i if in
    into is it its me my need of on or please should so some than that the their them
    then there these this those to too was we were what when where which while who will with
    would you your""".split()  # noqa: SIM905 - a word list reads better as text
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")
_CACHE_LIMIT = 200_000
_word_cache: dict[tuple[str, int], tuple[int, tuple[int, ...]]] = {}
_bigram_cache: dict[tuple[str, int], int] = {}


def words(text: str) -> list[str]:
    """Return the lowercase words of a text (camelCase and snake_case split into words)."""
    return _WORD.findall(_CAMEL.sub(" ", text).lower())


def content_words(text: str) -> list[str]:
    """Return the words that make features: the words without STOPWORDS (all words when
    there is nothing else)."""
    tokens = words(text)
    return [w for w in tokens if w not in STOPWORDS] or tokens


def trigrams(word: str) -> list[str]:
    """Return the character trigrams of a word with boundary marks (`#so`, …, `ng#`)."""
    marked = f"#{word}#"
    return [marked[i : i + 3] for i in range(len(marked) - 2)]


def bucket(feature: str, dim: int) -> int:
    """Return a feature's signed bucket: its dimension + 1, negated when its sign is -1.

    BLAKE2b of the feature: bit 0 is the sign, the other bits modulo `dim` the dimension."""
    value = int.from_bytes(blake2b(feature.encode(), digest_size=8).digest(), "little")
    index = (value >> 1) % dim + 1
    return -index if value & 1 else index


# A hashed feature is one int, its key: class * (2 * dim + 1) + signed bucket + dim.
_CLASSES = (WORD_WEIGHT, BIGRAM_WEIGHT, TRIGRAM_WEIGHT)


def _key(cls: int, feature: str, dim: int) -> int:
    return cls * (2 * dim + 1) + bucket(feature, dim) + dim


def _word_keys(word: str, dim: int) -> tuple[int, tuple[int, ...]]:
    key = (word, dim)
    found = _word_cache.get(key)
    if found is None:
        if len(_word_cache) >= _CACHE_LIMIT:
            _word_cache.clear()
        tris = tuple(_key(2, "t:" + t, dim) for t in trigrams(word))
        found = _word_cache[key] = (_key(0, "w:" + word, dim), tris)
    return found


def _bigram_key(pair: str, dim: int) -> int:
    key = (pair, dim)
    found = _bigram_cache.get(key)
    if found is None:
        if len(_bigram_cache) >= _CACHE_LIMIT:
            _bigram_cache.clear()
        found = _bigram_cache[key] = _key(1, "b:" + pair, dim)
    return found


def _text_keys(text: str, dim: int) -> list[int]:
    """Return the hashed features of a text, one key per occurrence."""
    content = content_words(text)
    if not content:  # no letters or digits at all: trigrams of the raw text
        return [_key(2, "r:" + t, dim) for t in trigrams(" ".join(text.lower().split()))]
    cached = [_word_keys(w, dim) for w in content]
    keys = [w for w, _ in cached]
    keys += [_bigram_key(f"{a} {b}", dim) for a, b in zip(content, content[1:], strict=False)]
    for _, tris in cached:
        keys += tris
    return keys


def embed_many(texts: list[str], dim: int = DEFAULT_DIM) -> list[list[float]]:
    """Return the stand-in embeddings of several texts: `dim` floats each, unit length,
    rounded to 6 decimals (a smaller, faster JSON answer; cosines move by < 1e-5).

    A feature occurring tf times weighs `class weight * (1 + ln tf)` (sublinear tf), tf
    counted per hashed feature."""
    if not MIN_DIM <= dim <= MAX_DIM:
        raise ValueError(f"dimensions must be in [{MIN_DIM}, {MAX_DIM}], got {dim}")
    if not texts:
        return []
    per_text = [_text_keys(text, dim) for text in texts]
    lengths = np.fromiter((len(k) for k in per_text), dtype=np.int64, count=len(texts))
    flat = np.fromiter(itertools.chain.from_iterable(per_text), dtype=np.int64)
    span = 3 * (2 * dim + 1)
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    unique, tf = np.unique(rows * span + flat, return_counts=True)
    row, key = np.divmod(unique, span)
    cls, signed = np.divmod(key, 2 * dim + 1)
    signed -= dim
    weight = np.asarray(_CLASSES)[cls] * (1.0 + np.log(tf))
    weight[signed < 0] *= -1.0
    matrix = np.bincount(
        row * dim + np.abs(signed) - 1, weights=weight, minlength=len(texts) * dim
    ).reshape(len(texts), dim)
    norms = np.linalg.norm(matrix, axis=1)
    empty = norms == 0.0  # every feature cancelled out (practically never): a fixed unit vector
    matrix[empty, 0] = norms[empty] = 1.0
    result: list[list[float]] = np.round(matrix / norms[:, None], 6).tolist()
    return result


def embed(text: str, dim: int = DEFAULT_DIM) -> list[float]:
    """Return the stand-in embedding of one text (see `embed_many`)."""
    return embed_many([text], dim)[0]


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two stand-in embeddings (they are unit length: a dot product)."""
    return sum(x * y for x, y in zip(a, b, strict=True))
