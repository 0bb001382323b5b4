"""Files in a model's answer: code blocks, named by a `file:` comment on their first line or by
what they hold.

A well-formed answer (closed fences, each block opened by `# file: name` or `// file: name`)
gives exactly its files. A messy one, as small models write them, is read as well as it can
be (`engine.ops.answer_parsing` finds the code):

- a fence never closed (the answer was cut off) runs to the end of the answer;
- without any code block, runs of code-looking lines between the prose are the code
  (Python must parse, or stop short only at the very end, and define something);
- blocks labeled for the language (```py, ```python3, ```js, ```node, ```golang ...) are code;
  unlabeled, ```text/```code and other languages' labels only when they look like code in
  the language; ```bash, ```json, ```console ... only when nothing else is code;
- unnamed blocks are named by what they hold: tests (pytest / node:test / go test) get the
  test name (test_solution.py, <impl>.test.js, <impl>_test.go); the implementation the
  module its tests import names it defines from (`from add import add` -> add.py,
  `require('./index')` -> index.js; Go `package add` -> add.go), else a file name the
  block or the line before it mentions, else solution.<ext> (later ones part<i>.<ext>);
  a lone file with tests in it is a test file, so they run; a Python block defining
  nothing after the implementation (`print(add(2, 3))`) is an example and left out;
  repeated blocks count once. Names the model wrote (`file:`) are never changed.

`extract_files` never raises: it reads the first 200,000 characters of any text.
"""

from __future__ import annotations

import re

from engine.ops.answer_parsing import (
    LABELS,
    MAX_CHARS,
    NEUTRAL,
    Block,
    bare_blocks,
    defined_names,
    doctest_file,
    file_comment,
    file_name_in,
    go_package,
    imported_modules,
    is_example,
    is_test,
    looks_like,
    split_fences,
    trim_prose,
)
from validation import languages
from validation.stages import Language

__all__ = ["doctest_file", "extract_files"]

_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.S)
_NAME = re.compile(r"^\s*(?:#|//|--)\s*file:\s*(\S+)\s*$")


def extract_files(answer: str, language: str) -> dict[str, str]:
    """Map file name -> content for every block of code in the answer."""
    try:
        return _extract(answer, language)
    except Exception:  # never raise on a model's answer: the plain reading
        try:
            return _closed_fences(str(answer)[:MAX_CHARS], language)
        except Exception:
            return {}


def _extract(answer: str, language: str) -> dict[str, str]:
    text = str(answer)[:MAX_CHARS].replace("\r\n", "\n").replace("\x00", "")
    lang = languages.language(language)
    blocks, prose = split_fences(text)
    named: dict[str, str] = {}
    unnamed: list[Block] = []
    for block in blocks:
        lines = block.body.splitlines()
        first = next((k for k, line in enumerate(lines) if line.strip()), 0)
        found = _NAME.match(lines[first]) if lines else None
        if found:  # the model named the file: its name and content, as written
            named[found.group(1)] = "\n".join(lines[first + 1 :]) + "\n"
        elif block.body.strip():
            unnamed.append(block)
    chosen = _code_blocks(unnamed, language)
    if not chosen and lang is not None and not any(n.endswith(lang.extensions) for n in named):
        chosen = bare_blocks(prose, language)
    return {**named, **_name(chosen, named, language, lang)}


def _code_blocks(blocks: list[Block], language: str) -> list[Block]:
    """The blocks that hold code in `language`: by label, else by what they hold."""
    own = LABELS.get(language)
    if own is None:  # a language without a profile: every block, as before
        return blocks
    others = frozenset().union(*(v for k, v in LABELS.items() if k != language))
    chosen = [
        b
        for b in blocks
        if b.label in own or (b.label in NEUTRAL | others and looks_like(b.body, language))
    ]
    if not chosen:  # ```bash and the like only when nothing else is code
        chosen = [b for b in blocks if looks_like(b.body, language)]
    seen: set[str] = set()
    unique = []
    for block in chosen:
        key = block.body.strip()
        if key not in seen:
            seen.add(key)
            unique.append(block)
    return unique


def _hint(block: Block, lang: Language) -> str | None:
    """A file name the block's first line, its fence or the line before it mentions."""
    comment = file_comment(block.body)
    if comment is not None:
        name, says_file = comment
        if says_file:  # `# File: add.py`: a name line, not code
            block.body = block.body.lstrip("\n").split("\n", 1)[-1]
        return name
    return file_name_in(block.info, lang.extensions) or file_name_in(block.before, lang.extensions)


def _fits(name: str | None, lang: Language, test: bool, taken: set[str]) -> bool:
    if not name or name.startswith("/") or ".." in name.split("/") or name in taken:
        return False
    return name.endswith(lang.extensions) and lang.is_test_file(name) == test


def _free(stem: str, tail: str, taken: set[str]) -> str:
    """stem + tail ("solution." "py"), else stem_2 + tail, stem_3 + tail ... when taken
    (the stem keeps its separator: "solution_2.py", "index_2.test.js", "add_2_test.go")."""
    name, k = stem + tail, 1
    while name in taken:
        k += 1
        name = f"{stem[:-1]}_{k}{stem[-1]}{tail}"
    return name


def _name(
    blocks: list[Block], named: dict[str, str], language: str, lang: Language | None
) -> dict[str, str]:
    """Names for the unnamed code blocks (see the module's docstring)."""
    if lang is None:  # no profile: the old names
        out = {}
        for i, block in enumerate(blocks):
            test = is_test(block.body, language)
            out[("test_solution" if test else "solution" if i == 0 else f"part{i}") + ".txt"] = (
                block.body
            )
        return out
    ext = lang.block_extension
    tests = [is_test(b.body, language) for b in blocks]
    hints = [_hint(b, lang) for b in blocks]
    bodies = [trim_prose(b.body, language) for b in blocks]
    impls = [i for i, t in enumerate(tests) if not t]
    impls = impls[:1] + [i for i in impls[1:] if not is_example(bodies[i], language)]
    taken = set(named)
    names: dict[int, str] = _from_imports(impls, bodies, tests, named, lang, taken)
    stem = "solution"
    if language == "go":
        packages = [go_package(bodies[i]) for i in range(len(blocks)) if tests[i]]
        packages += [go_package(bodies[i]) for i in impls]
        package = next((p for p in packages if p), None)
        if package and package != "main":
            stem = package
    for k, i in enumerate(impls):
        if i not in names:
            hint = hints[i]
            base = f"{stem}." if k == 0 else f"part{k}."
            fits = hint is not None and _fits(hint, lang, False, taken)
            names[i] = hint if hint and fits else _free(base, ext, taken)
        taken.add(names[i])
    impl_stem = names[impls[0]].rsplit("/", 1)[-1].rsplit(".", 1)[0] if impls else stem
    test_base, test_tail = {
        "python": ("test_solution.", "py"),
        "javascript": (f"{impl_stem}.", "test." + ext),
        "go": (f"{impl_stem}_", "test.go"),
    }.get(language, ("test_solution.", ext))
    for i, test in enumerate(tests):
        if test:
            hint = hints[i]
            fits = hint is not None and _fits(hint, lang, True, taken)
            names[i] = hint if hint and fits else _free(test_base, test_tail, taken)
            taken.add(names[i])
    return {names[i]: bodies[i] for i in range(len(blocks)) if i in names}


def _from_imports(
    impls: list[int],
    bodies: list[str],
    tests: list[bool],
    named: dict[str, str],
    lang: Language,
    taken: set[str],
) -> dict[int, str]:
    """Implementation blocks named after the modules the tests import: the module whose
    imported names the block defines; in JavaScript (`require('./x')` is always local) also
    the one module left for the one block left."""
    language = lang.name
    test_bodies = [b for b, t in zip(bodies, tests, strict=True) if t]
    test_bodies += [body for name, body in named.items() if is_test(body, language)]
    wanted: list[tuple[str, set[str]]] = []
    for body in test_bodies:
        for module, names in imported_modules(body, language):
            if _fits(module, lang, False, taken) and all(module != m for m, _ in wanted):
                wanted.append((module, names))
    out: dict[int, str] = {}
    for i in impls:
        defined = defined_names(bodies[i], language)
        for module, names in wanted:
            if names & defined and module not in out.values():
                out[i] = module
                break
    left = [m for m, _ in wanted if m not in out.values()]
    rest = [i for i in impls if i not in out]
    if language == "javascript" and len(left) == 1 and len(rest) == 1:
        out[rest[0]] = left[0]
    return out


def _closed_fences(answer: str, language: str) -> dict[str, str]:
    """The plain reading: every closed fence, named by its `file:` line or by position."""
    files: dict[str, str] = {}
    lang = languages.language(language)
    ext = lang.block_extension if lang is not None else "txt"
    for i, match in enumerate(_FENCE.finditer(answer)):
        body = match.group(2)
        lines = body.splitlines()
        name_match = _NAME.match(lines[0]) if lines else None
        if name_match:
            name = name_match.group(1)
            body = "\n".join(lines[1:]) + "\n"
        else:
            is_test_block = "def test_" in body or "test(" in body or "func Test" in body
            name = "test_solution" if is_test_block else "solution" if i == 0 else f"part{i}"
            name += "." + ext
        files[name] = body
    return files
