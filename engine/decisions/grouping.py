"""Consensus: group candidate answers from several model groups by their normalized code.

Rules, in order:

1. Only the solution counts, not its tests: `code_files` keeps the files the language's
   description (`validation.languages`) calls code (Python `*.py` but not `test_*.py`,
   `*_test.py` or `conftest.py`; JavaScript `.js/.mjs/.cjs` but not `*.test.*`, `*.spec.*`,
   `test_*`, … or files under `test/`; Go `*.go` but not `*_test.go`), so the tests each model
   wrote for itself do not split groups. For another language every file counts, compared as
   whitespace-separated words.
2. Differences that cannot change behaviour vanish in `normalized_tokens`, through the
   language's lexer (`Language.tokens`, see `validation.tokens`): Python is compared by its
   syntax tree; JavaScript and Go without comments, layout, `;` and trailing commas.
   Files are taken in path order; the token `<file>` separates them (paths do not count).
3. `similarity` is 1.0 for equal token sequences, else difflib's ratio (2·matches / total
   length); for very long pairs (product of lengths over 4e6) the multiset overlap instead.
4. `group_candidates` is greedy in candidate order: a candidate joins the group whose
   representative (its first member) is most similar, earliest group on ties, when that
   similarity reaches the threshold; otherwise it starts a new group.

The default threshold is 1.0, identical normalized code: a real one-token change (`<` for
`<=`, `-` for `+`) changes well under 5% of the tokens of all but the smallest programs, so
any lower threshold groups answers that behave differently. A lower threshold also groups
answers that differ only by a renamed variable or a small edit; callers choose it knowingly.

Nothing here raises on any input text.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import Counter
from dataclasses import dataclass

from validation import languages
from validation.tokens import words

FILE_SEPARATOR = "<file>"
MAX_MATCH_WORK = 4_000_000  # len(a) * len(b) above which difflib is too slow


@dataclass(frozen=True)
class Candidate:
    """One answer: its position in the list of candidates, its model group and its files."""

    index: int
    model_group: str
    files: dict[str, str]


@dataclass
class Group:
    """Candidates with (nearly) the same normalized code; `members` in candidate order."""

    members: list[int]
    representative: int  # the first member
    fingerprint: str  # 12 hex digits of sha256 over the representative's normalized tokens


def code_files(language: str, files: dict[str, str]) -> dict[str, str]:
    """The files that hold the solution, not its tests (every file for an unknown language)."""
    lang = languages.language(language)
    if lang is None:
        return dict(files)
    return {n: src for n, src in files.items() if lang.is_code_file(n)}


def normalized_tokens(language: str, files: dict[str, str]) -> tuple[str, ...]:
    """The code files' tokens with formatting, comments and other no-ops removed (rule 2)."""
    lang = languages.language(language)
    lex = lang.tokens if lang is not None else words
    out: list[str] = []
    for i, (_, source) in enumerate(sorted(code_files(language, files).items())):
        if i:
            out.append(FILE_SEPARATOR)
        try:
            out += lex(source)
        except Exception:  # the lexers are total; this is only the last resort
            out += words(source)
    return tuple(out)


def fingerprint(tokens: tuple[str, ...]) -> str:
    """12 hex digits of sha256 over the tokens (JSON-encoded, so unambiguous)."""
    return hashlib.sha256(json.dumps(tokens).encode()).hexdigest()[:12]


def similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """1.0 when equal (both empty included); else difflib's ratio, or the multiset overlap
    2·|a∩b| / (|a|+|b|) when len(a)·len(b) exceeds 4e6."""
    if a == b:
        return 1.0
    if len(a) * len(b) > MAX_MATCH_WORK:
        common = sum((Counter(a) & Counter(b)).values())
        return 2 * common / (len(a) + len(b))
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def group_candidates(
    language: str, candidates: list[Candidate], threshold: float = 1.0
) -> list[Group]:
    """Greedy grouping in candidate order (rule 4); groups in order of creation."""
    groups: list[Group] = []
    reps: list[tuple[str, ...]] = []
    for c in candidates:
        tokens = normalized_tokens(language, c.files)
        best, best_sim = -1, -1.0
        for i, rep in enumerate(reps):
            sim = similarity(tokens, rep)
            if sim > best_sim:
                best, best_sim = i, sim
        if best >= 0 and best_sim >= threshold:
            groups[best].members.append(c.index)
        else:
            groups.append(Group([c.index], c.index, fingerprint(tokens)))
            reps.append(tokens)
    return groups
