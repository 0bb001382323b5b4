"""Token streams of source code with the differences that cannot change behaviour removed,
so that answers can be compared (`engine.decisions.grouping`, rule 2). Each `Language`
names its lexer.

- `python_tokens` compares the syntax tree: formatting, comments, quote style, parentheses,
  docstrings and `u''` prefixes are gone. Code that does not parse falls back to the
  `tokenize` stream without comments and layout tokens, then to `words`.
- `javascript_tokens` and `go_tokens` share a small regex lexer: comments and whitespace are
  dropped, string/template/rune literals are one token each, `;` is dropped (JavaScript's
  automatic semicolon insertion, Go's semicolons at line ends) and so is a `,` right before
  `)`, `]` or `}` (trailing commas). JavaScript `'…'` and `"…"` strings compare equal.
- `words` splits on whitespace: the lexer of a language without one, and the last resort.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator

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


def python_tokens(source: str) -> list[str]:
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
        return words(source)


def words(source: str) -> list[str]:
    """Whitespace-separated words."""
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


def javascript_tokens(source: str) -> list[str]:
    """JavaScript without comments, layout, `;` and trailing commas; one string quote style."""
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


def go_tokens(source: str) -> list[str]:
    """Go without comments, layout, `;` and trailing commas."""
    return _without_separators(list(_lex(source, regex_literals=False)))
