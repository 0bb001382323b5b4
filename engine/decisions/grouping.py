"""Consensus: group candidate answers from several model groups by their normalized code.

Rules, in order:

1. Only the solution counts, not its tests: `code_files` keeps the files the validation stages
   treat as code (Python `*.py` but not `test_*.py`, `*_test.py` or `conftest.py`; JavaScript
   `.js/.mjs/.cjs` but not `*.test.*`, `*.spec.*`, `test_*`, … or files under `test/`; Go
   `*.go` but not `*_test.go`), so the tests each model wrote for itself do not split groups.
   For another language every file counts, compared as whitespace-separated words.
2. Differences that cannot change behaviour vanish in `normalized_tokens`:
   - Python is compared by its syntax tree: formatting, comments, quote style, parentheses,
     docstrings and `u''` prefixes are gone. Code that does not parse falls back to the
     `tokenize` stream without comments and layout tokens, then to whitespace-split words.
   - JavaScript and Go go through a small regex lexer: comments and whitespace are dropped,
     string/template/rune literals are one token each, `;` is dropped (JavaScript's automatic
     semicolon insertion, Go's semicolons at line ends) and so is a `,` right before `)`, `]`
     or `}` (trailing commas). JavaScript `'…'` and `"…"` strings compare equal.
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

import ast
import difflib
import hashlib
import io
import json
import re
import tokenize
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from validation import golang, javascript, python

FILE_SEPARATOR = "<file>"
MAX_MATCH_WORK = 4_000_000  # len(a) * len(b) above which difflib is too slow

_TEST_FILE: dict[str, Callable[[str], bool]] = {
    "python": lambda n: python.is_test_file(n) or PurePosixPath(n).name == "conftest.py",
    "javascript": javascript.is_test_file,
    "go": golang.is_test_file,
}
_CODE_SUFFIXES = {"python": (".py",), "javascript": javascript.EXTENSIONS, "go": (".go",)}


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
    suffixes = _CODE_SUFFIXES.get(language)
    if suffixes is None:
        return dict(files)
    is_test = _TEST_FILE[language]
    return {n: src for n, src in files.items() if n.endswith(suffixes) and not is_test(n)}


def normalized_tokens(language: str, files: dict[str, str]) -> tuple[str, ...]:
    """The code files' tokens with formatting, comments and other no-ops removed (rule 2)."""
    lex = {"python": _python_tokens, "javascript": _js_tokens, "go": _go_tokens}.get(
        language, _words
    )
    out: list[str] = []
    for i, (_, source) in enumerate(sorted(code_files(language, files).items())):
        if i:
            out.append(FILE_SEPARATOR)
        try:
            out += lex(source)
        except Exception:  # the lexers are total; this is only the last resort
            out += _words(source)
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


# --- Python -------------------------------------------------------------------------------

_DUMP_TOKEN = re.compile(
    r"""b?'(?:[^'\\]|\\.)*'|b?"(?:[^"\\]|\\.)*"|\d+(?:\.\d*)?(?:e[+-]?\d+)?j?|\w+|\S"""
)
_LAYOUT = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _python_tokens(source: str) -> list[str]:
    """Tokens of the syntax tree's dump; the tokenize stream when it does not parse."""
    try:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, _DOC_OWNERS) and node.body:
                first = node.body[0]
                if (
                    isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)
                ):
                    node.body = node.body[1:]
            elif isinstance(node, ast.Constant):
                node.kind = None  # u'x' is 'x'
        dump = ast.dump(tree, annotate_fields=False, include_attributes=False)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _tokenize_tokens(source)
    return _DUMP_TOKEN.findall(dump)


def _tokenize_tokens(source: str) -> list[str]:
    try:
        stream = tokenize.generate_tokens(io.StringIO(source).readline)
        return [t.string for t in stream if t.type not in _LAYOUT]
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
        return _words(source)


def _words(source: str) -> list[str]:
    return source.split()


# --- JavaScript and Go --------------------------------------------------------------------

# multi-character operators of JavaScript and Go, longest first (a single character otherwise)
_PUNCT = (
    *(">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "&^="),
    *("=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*="),
    *("/=", "%=", "&=", "|=", "^=", "**", "<<", ">>", ":=", "<-", "&^"),
)
_LEX = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<comment>//[^\n]*|/\*[\s\S]*?(?:\*/|\Z))"
    r"|(?P<string>'(?:[^'\\\n]|\\.)*'?|\"(?:[^\"\\\n]|\\.)*\"?|`(?:[^`\\]|\\[\s\S])*`?)"
    r"|(?P<number>(?:\d|\.\d)[\w.]*)"
    r"|(?P<word>[^\W\d][\w$]*|\$[\w$]*)"
    r"|(?P<punct>" + "|".join(re.escape(p) for p in _PUNCT) + r"|[\s\S])"
)
# a `/` after one of these is division; elsewhere (JavaScript) it starts a regex literal
_REGEX = re.compile(r"/(?:[^/\\\n\[]|\\.|\[(?:[^\]\\\n]|\\.)*\])+/[A-Za-z]*")
_KEYWORDS_BEFORE_EXPR = {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void"}
_CLOSERS = {")", "]", "}"}
_ESCAPED_QUOTE = re.compile(r"\\(['\"])|(\\.)")


def _lex(source: str, *, regex_literals: bool) -> Iterator[tuple[str, str]]:
    """(kind, text) pairs without whitespace and comments."""
    pos, prev = 0, ""
    while pos < len(source):
        if regex_literals and source[pos] == "/" and not source.startswith(("//", "/*"), pos):
            division = prev[-1:].isalnum() or prev[-1:] in {"_", "$", ")", "]", "}"}
            m = (
                None
                if division and prev not in _KEYWORDS_BEFORE_EXPR
                else _REGEX.match(source, pos)
            )
            if m:
                pos, prev = m.end(), m.group()
                yield "regex", prev
                continue
        m = _LEX.match(source, pos)
        assert m is not None and m.lastgroup is not None  # the last alternative matches any char
        pos = m.end()
        if m.lastgroup not in ("space", "comment"):
            prev = m.group()
            yield m.lastgroup, prev


def _without_separators(tokens: list[tuple[str, str]]) -> list[str]:
    """Drop `;` and a `,` right before a closing bracket."""
    kept = [(k, t) for k, t in tokens if not (k == "punct" and t == ";")]
    return [
        t
        for i, (k, t) in enumerate(kept)
        if not (k == "punct" and t == "," and i + 1 < len(kept) and kept[i + 1][1] in _CLOSERS)
    ]


def _js_tokens(source: str) -> list[str]:
    tokens = [
        (kind, _js_string(text) if kind == "string" and text[0] in "'\"" else text)
        for kind, text in _lex(source, regex_literals=True)
    ]
    return _without_separators(tokens)


def _js_string(text: str) -> str:
    """'it\\'s' and "it's" both become "it's" (escaped quotes unescaped, one quote style)."""
    body = text[1:-1] if len(text) > 1 and text[-1] == text[0] else text[1:]
    body = _ESCAPED_QUOTE.sub(lambda m: m.group(1) or m.group(2), body)
    return '"' + body + '"'


def _go_tokens(source: str) -> list[str]:
    return _without_separators(list(_lex(source, regex_literals=False)))
