"""Files in a model's answer: fenced code blocks named by a `file:` comment on line one."""

from __future__ import annotations

import re

from validation import languages

_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.S)
_NAME = re.compile(r"^\s*(?:#|//|--)\s*file:\s*(\S+)\s*$")


def extract_files(answer: str, language: str) -> dict[str, str]:
    """Map file name -> content for every fenced block; unnamed blocks get a default name."""
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
            is_test = "def test_" in body or "test(" in body or "func Test" in body
            name = (
                ("test_solution" if is_test else "solution" if i == 0 else f"part{i}") + "." + ext
            )
        files[name] = body
    return files
