"""Reading a model's answer: fenced blocks (closed or cut off), code written without fences,
and what a block of Python, JavaScript or Go holds (tests, imports, definitions, doctests).

Small models answer messily: prose around the code, a fence never closed because the answer
was cut off, ```text or no label on Python, shell sessions beside the code. These helpers
never raise on text (they are used on whatever a model returned); `engine.ops.codeblocks`
turns what they find into named files. The module stays whole (over 400 lines): the fence
reader, the unfenced-code finder and the per-language checks share their line heuristics
and are read together.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from dataclasses import dataclass

MAX_CHARS = 200_000  # of an answer that is read at all
MAX_BLOCKS = 64
_MERGE = 4  # code runs joined (with the prose between them) to parse a module docstring

# fence labels, normalised to lower case; a block labeled for another language is not code
LABELS = {
    "python": frozenset({"python", "py", "python3", "py3"}),
    "javascript": frozenset({"javascript", "js", "node", "nodejs", "mjs", "cjs", "jsx"}),
    "go": frozenset({"go", "golang"}),
}
LABEL_OF = {"python": "python", "javascript": "javascript", "go": "go"}
NEUTRAL = frozenset({"", "text", "plaintext", "plain", "txt", "code", "none", "raw"})
_EXT_LABEL = {"py": "python", "js": "javascript", "mjs": "javascript", "cjs": "javascript"}
_EXT_LABEL["go"] = "go"
_FILENAME = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.([A-Za-z0-9]{1,5}))(?![\w/-])")
_FILE_COMMENT = re.compile(
    r"^\s*(?:#|//)\s*(?:(file(?:name)?)\s*[:=]?\s*)?`?((?:[\w-]+/)*[\w-]+\.[A-Za-z0-9]{1,5})`?\s*$",
    re.I,
)


@dataclass
class Block:
    """One piece of code in an answer: a fenced block, or a run of lines without fences."""

    label: str  # normalised fence label ("" when none)
    body: str
    closed: bool = True
    info: str = ""  # the fence's info string after the label (may name a file)
    before: str = ""  # the last prose line before the block (may name a file)
    bare: bool = False  # found without fences


def _info(info: str) -> tuple[str, str]:
    """(label, rest) of a fence's info string: `python`, `{.py}`, `python:add.py`, `add.py`."""
    first, _, rest = info.strip().lstrip("{.").partition(" ")
    first = first.rstrip("}")
    named = _FILENAME.fullmatch(first)
    if named:
        return _EXT_LABEL.get(named.group(2).lower(), ""), first
    label, _, tail = first.partition(":")
    return label.lower(), f"{tail} {rest}".strip()


def split_fences(text: str) -> tuple[list[Block], list[str | None]]:
    """The fenced blocks and the prose lines around them (None where a block was).

    A fence may start or end inside a line; a fence never closed runs to the end of the
    answer (a cut-off answer); a labeled fence line inside a block closes it and opens the
    next (the model forgot to close the first)."""
    blocks: list[Block] = []
    prose: list[str | None] = []
    body: list[str] | None = None
    current = Block("", "")
    indent = 0

    def close() -> None:
        nonlocal body
        assert body is not None
        while body and not body[-1].strip():
            body.pop()
        current.body = "".join(line + "\n" for line in body)
        blocks.append(current)
        body = None
        prose.append(None)

    def start(label_info: str, before: str, at: int) -> None:
        nonlocal body, current, indent
        label, info = _info(label_info)
        current, body, indent = Block(label, "", info=info, before=before), [], at

    for line in text.split("\n"):
        if body is None:
            pos = line.find("```")
            rest = line[pos:].lstrip("`") if pos >= 0 else ""
            if pos < 0 or "```" in rest:  # no fence, or inline ```code``` in prose
                prose.append(line)
                continue
            head = line[:pos]
            before = head if head.strip() else next((p for p in reversed(prose) if p), "")
            if head.strip():
                prose.append(head)
            start(rest, before.strip(), pos if not head.strip() else 0)
            continue
        pos = line.find("```")
        if pos < 0:
            body.append(_dedent(line, indent))
            continue
        after = line[pos:].lstrip("`").strip()
        if line[:pos].strip():
            body.append(_dedent(line[:pos], indent))
        close()
        if not line[:pos].strip() and re.fullmatch(r"\{?\.?[\w+#:.-]+\}?", after):
            start(after, "", pos)  # "```python" inside a block: a new block begins
        elif after:
            prose.append(after)
    if body is not None:
        current.closed = False
        close()
    return [b for b in blocks if b.body.strip() or b.closed][:MAX_BLOCKS], prose


def _dedent(line: str, indent: int) -> str:
    """The line without the indentation its fence had (a fence inside a list item)."""
    return line[min(indent, len(line) - len(line.lstrip(" \t"))) :]


def file_name_in(text: str, extensions: tuple[str, ...]) -> str | None:
    """The one file name with one of `extensions` that `text` mentions; None for none or two."""
    if len(text) > 200:
        return None
    found = {m.group(1) for m in _FILENAME.finditer(text) if m.group(1).endswith(extensions)}
    return found.pop() if len(found) == 1 else None


def file_comment(body: str) -> tuple[str, bool] | None:
    """(name, says "file") from a first line like `# add.py`, `# File: add.py`, `// index.js`."""
    first = body.lstrip("\n").split("\n", 1)[0]
    m = _FILE_COMMENT.match(first)
    return (m.group(2), bool(m.group(1))) if m else None


# ---------- what a block holds ----------

_TEST = {
    "python": re.compile(
        r"^\s*(?:async\s+)?def\s+test\w*\s*\(|^\s*(?:import\s+pytest\b|from\s+pytest\s+import)"
        r"|^\s*class\s+Test\w*\s*[:(]|unittest\.TestCase",
        re.M,
    ),
    "javascript": re.compile(
        r"""require\(\s*['"](?:node:)?test['"]|from\s+['"](?:node:)?test['"]"""
        r"|^\s*(?:test|it|describe)\s*\(",
        re.M,
    ),
    "go": re.compile(r"^\s*func\s+Test\w*\s*\(|\"testing\"", re.M),
}


def is_test(body: str, language: str) -> bool:
    """Whether the block holds tests (pytest / node:test / go test)."""
    pattern = _TEST.get(language)
    if pattern is None:  # the old rule, for languages without a profile
        return "def test_" in body or "test(" in body or "func Test" in body
    return pattern.search(body) is not None


_CODE_LINE = {
    "python": re.compile(
        r"""^(?:(?:async\s+)?def\s+\w|class\s+\w|import\s+\w|from\s+[\w.]+\s+import\b|@\w
        |(?:if|elif|while|with|except)\b.*:\s*(?:\#.*)?$|for\s+.+\s+in\s+.+:\s*$
        |(?:try|else|finally)\s*:|(?:return|yield|raise|assert|del|global|pass|break)\b
        |\#|[)\]}]|[rRbBuUfF]{0,2}(?:\"\"\"|''')
        |[A-Za-z_][\w.]*(?:\[[^\]]*\])*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*(?:[-+*/%&|^@]|//|\*\*)?=(?!=)
        |[A-Za-z_][\w.]*\(.*\)\s*(?:\#.*)?$)""",
        re.X,
    ),
    "javascript": re.compile(
        r"""^(?:(?:async\s+)?function\b|(?:const|let|var|class)\s|module\.exports|exports\.
        |import\s|export\s|require\(|return\b|(?:if|for|while|switch)\s*\(|else\b|case\s
        |try\s*\{|catch\b|finally\b|throw\s|(?:test|it|describe)\s*\(|assert[.(]|console\.
        |//|/\*|\*|[)\]}]|['"]use\ strict['"]
        |[A-Za-z_$][\w$.]*\s*(?:[-+*/]?=[^=]|\(.*\)\s*;?\s*$))""",
        re.X,
    ),
    "go": re.compile(r"^(?:package\s|import\b|func\b|type\s|var\s|const\s|//|/\*|[)\]}])"),
}
_STRONG = {
    "python": re.compile(r"^\s*(?:(?:async\s+)?def\s|class\s|import\s|from\s+[\w.]+\s+import\s)"),
    "javascript": re.compile(
        r"^\s*(?:(?:async\s+)?function\b|const\s|let\s|var\s|class\s|module\.exports|exports\."
        r"|import\s|export\s)|=>|require\("
    ),
    "go": re.compile(r"^(?:package|func)\s"),
}


def _is_code_line(line: str, language: str) -> bool:
    if not line.strip() or line[0] in " \t":
        return True
    return _CODE_LINE[language].match(line) is not None


def parse_python(code: str) -> ast.Module | SyntaxError | None:
    """The module, the syntax error, or None when the parser gave up (too deep, NUL bytes)."""
    try:
        return ast.parse(code)
    except SyntaxError as exc:
        return exc
    except (ValueError, RecursionError, MemoryError):
        return None


def _python_defines(tree: ast.Module) -> bool:
    """def, class or import at the top, or at least two statements with an assignment."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
    if any(isinstance(node, kinds) for node in tree.body):
        return True
    assigns = (ast.Assign, ast.AugAssign)
    return len(tree.body) >= 2 and any(isinstance(node, assigns) for node in tree.body)


def _cut_off(error: SyntaxError, code: str) -> bool:
    """A syntax error at the very end: the code is whole up to where the answer stopped."""
    last = len(code.rstrip("\n").split("\n"))
    message = str(error.msg)
    return (error.lineno or 0) >= last or "never closed" in message or "unterminated" in message


def looks_like(body: str, language: str) -> bool:
    """Whether an unlabeled (or mislabeled) block holds code in `language`."""
    if language not in _CODE_LINE:
        return bool(body.strip())
    lines = [line for line in body.split("\n") if line.strip()]
    if not lines or not any(_STRONG[language].search(line) for line in lines):
        return False
    if language == "python":
        tree = parse_python(textwrap.dedent(body))
        if isinstance(tree, ast.Module):
            return _python_defines(tree)
    coded = sum(_is_code_line(line, language) for line in lines)
    return coded >= 0.6 * len(lines)


def _accept_run(code: str, language: str, at_end: bool) -> bool:
    if not any(_STRONG[language].search(line) for line in code.split("\n")):
        return False
    if language == "python":
        tree = parse_python(code)
        if isinstance(tree, ast.Module):
            return _python_defines(tree)
        has_def = re.search(r"^\s*(?:async\s+)?(?:def|class)\s+\w", code, re.M) is not None
        return at_end and has_def and isinstance(tree, SyntaxError) and _cut_off(tree, code)
    if language == "javascript":
        opened, shut = code.count("{"), code.count("}")
        return opened == shut or (at_end and opened > shut)
    return True


def bare_blocks(prose: list[str | None], language: str) -> list[Block]:
    """Code written without fences: runs of code-looking lines between prose lines.

    Python runs must parse (or be cut off at the end of the answer) and define something;
    runs joined with the prose between them are tried for module docstrings."""
    if language not in _CODE_LINE:
        return []
    runs: list[tuple[int, int]] = []
    start = None
    prose = [_unquote(p) for p in prose]
    for i, line in enumerate([*prose, None]):
        is_code = line is not None and _is_code_line(line, language) and not _heading(line)
        if is_code and start is None and line and line.strip():
            start = i
        elif not is_code and start is not None:
            end = i
            while not (prose[end - 1] or "").strip():
                end -= 1
            runs.append((start, end))
            start = None
    last = max((i for i, p in enumerate(prose) if p and p.strip()), default=-1)
    found: list[Block] = []
    i = 0
    while i < len(runs) and len(found) < MAX_BLOCKS:
        for j in range(i, min(i + _MERGE, len(runs))):
            lines = [p or "" for p in prose[runs[i][0] : runs[j][1]]]
            if j > i and any(p is None for p in prose[runs[i][0] : runs[j][1]]):
                break  # never join across a fenced block
            code = textwrap.dedent("\n".join(lines)) + "\n"
            if _accept_run(code, language, at_end=runs[j][1] - 1 == last):
                before = next((p for p in reversed(prose[: runs[i][0]]) if p and p.strip()), "")
                found.append(Block(LABEL_OF[language], code, before=before.strip(), bare=True))
                i = j
                break
        i += 1
    return found


def _unquote(line: str | None) -> str | None:
    """A line that is one inline code span (`def f(x):`) holds that code."""
    if line is not None and line.strip().startswith("`") and line.strip().count("`") == 2:
        inner = line.strip()[1:]
        return inner[:-1] if inner.endswith("`") else line
    return line


def is_example(body: str, language: str) -> bool:
    """Python that defines and imports nothing (`print(add(2, 3))`): a usage example."""
    if language != "python":
        return False
    tree = parse_python(textwrap.dedent(body))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
    return isinstance(tree, ast.Module) and not any(isinstance(n, kinds) for n in tree.body)


def _heading(line: str) -> bool:
    """A markdown heading (`## Solution`): prose, though Python would read a comment."""
    return re.match(r"#{2,6}\s", line) is not None


def trim_prose(body: str, language: str) -> str:
    """A Python block without the prose lines at its start and end, when only that parses."""
    if language != "python" or isinstance(parse_python(body), ast.Module):
        return body
    lines = body.split("\n")
    code = [k for k, line in enumerate(lines) if line.strip() and _is_code_line(line, language)]
    if not code:
        return body
    first, last = code[0], code[-1]
    trimmed = "\n".join(lines[first : last + 1]).strip("\n") + "\n"
    return trimmed if isinstance(parse_python(trimmed), ast.Module) else body


# ---------- names a block defines and imports ----------

_PY_DEFINES = re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)|^(\w+)\s*(?::[^=]*)?=(?!=)", re.M)
_PY_FROM = re.compile(
    r"^[ \t]*from[ \t]+\.?([A-Za-z_]\w*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([\w \t,*]+))", re.M
)
_PY_IMPORT = re.compile(r"^\s*import\s+([A-Za-z_]\w*)\s*$", re.M)
_JS_DEFINES = re.compile(
    r"^(?:async\s+)?function\s*\*?\s*([\w$]+)|^(?:const|let|var|class)\s+([\w$]+)"
    r"|exports\.([\w$]+)",
    re.M,
)
_JS_REQUIRE = re.compile(
    r"""(?:\{([^}]*)\}\s*=\s*require\(\s*|import\s*\{([^}]*)\}\s*from\s*|require\(\s*|from\s*)"""
    r"""['"](\./[\w./-]+)['"]"""
)
_GO_PACKAGE = re.compile(r"^\s*package\s+(\w+)", re.M)
# modules a test may import that are never the solution
_NOT_SOLUTION = frozenset({"pytest", "hypothesis", "mock", "numpy", "pandas", "requests"})


def defined_names(body: str, language: str) -> set[str]:
    """Top-level names a block defines (functions, classes, assignments, exports)."""
    pattern = _PY_DEFINES if language == "python" else _JS_DEFINES
    return {g for m in pattern.finditer(body) for g in m.groups() if g}


def imported_modules(body: str, language: str) -> list[tuple[str, set[str]]]:
    """(module file name, names taken from it) for each local module a test imports."""
    found: list[tuple[str, set[str]]] = []
    if language == "python":
        for m in _PY_FROM.finditer(body):
            names = (m.group(2) or m.group(3) or "").replace("\n", ",").split(",")
            found.append((m.group(1), {n.split()[0] for n in names if n.strip()}))
        for m in _PY_IMPORT.finditer(body):
            uses = set(re.findall(rf"\b{m.group(1)}\.(\w+)", body))
            found.append((m.group(1), uses))
        local = [
            (f"{mod}.py", names)
            for mod, names in found
            if mod not in sys.stdlib_module_names and mod not in _NOT_SOLUTION
        ]
        return local
    if language == "javascript":
        for m in _JS_REQUIRE.finditer(body):
            raw = m.group(1) or m.group(2) or ""
            names = {n.split(":")[0].split(" as ")[0].strip() for n in raw.split(",")}
            path = m.group(3)[2:]
            if ".." not in path and not path.endswith("/"):
                name = path if path.endswith((".js", ".mjs", ".cjs")) else f"{path}.js"
                found.append((name, {n for n in names if n}))
    return found


def go_package(body: str) -> str | None:
    """The package clause of a Go file (an external test package `x_test` counts as `x`)."""
    m = _GO_PACKAGE.search(body)
    return m.group(1).removesuffix("_test") if m else None


# ---------- doctests ----------


def doctest_file(code: str, module: str) -> str | None:
    """A pytest file running the `>>>` examples in `code`'s docstrings, imported as `module`;
    None when there are none (or `module` is no importable name)."""
    try:
        if not module.isidentifier() or ">>>" not in code:
            return None
        tree = parse_python(code[:MAX_CHARS])
        if isinstance(tree, ast.Module):
            nodes = list(ast.walk(tree))
            kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            docs = [ast.get_docstring(n) or "" for n in nodes if isinstance(n, kinds)]
            has = any(">>>" in doc for doc in docs)
        else:  # broken code: its docstrings still say what it should do
            has = re.search(r"(\"\"\"|''')(?:(?!\1).)*?>>>", code[:MAX_CHARS], re.S) is not None
    except Exception:  # never raise on a model's code
        return None
    if not has:
        return None
    return (
        f"import doctest\n\nimport {module}\n\n\n"
        f"def test_doctests():\n    assert doctest.testmod({module}).failed == 0\n"
    )
