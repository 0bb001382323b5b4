"""The framework a run's code uses, detected from its imports and manifests.

A memory's framework narrows where it applies (scope `framework`, between language and
project). Detection is by name only: the first known framework imported by the code, or
named in a manifest (package.json dependencies, requirements.txt, go.mod), in the order of
`KNOWN` for the language; "" when none is found.
"""

from __future__ import annotations

import json
import re

# per language, most specific first (a Flask app also imports werkzeug, not the reverse)
KNOWN: dict[str, tuple[str, ...]] = {
    "python": (
        "django",
        "fastapi",
        "flask",
        "starlette",
        "sqlalchemy",
        "pandas",
        "numpy",
        "pydantic",
        "click",
        "aiohttp",
        "requests",
    ),
    "javascript": ("next", "react", "vue", "svelte", "express", "fastify", "koa", "lodash"),
    "go": ("gin", "echo", "fiber", "chi", "gorm", "cobra"),
}
_PY_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", re.MULTILINE)
_JS_IMPORT = re.compile(r"""(?:require\(\s*|from\s+|import\s+)['"](@?[\w./-]+)['"]""")
_GO_IMPORT = re.compile(r'"([\w.-]+(?:/[\w.-]+)+)"')


def detect_framework(files: dict[str, str], language: str) -> str:
    """The framework `files` use (see the module docstring); "" when none is known."""
    known = KNOWN.get(language, ())
    if not known:
        return ""
    names = _imported(files, language) | _manifest(files)
    return next((name for name in known if name in names), "")


def _imported(files: dict[str, str], language: str) -> set[str]:
    found: set[str] = set()
    for path, text in files.items():
        if language == "python" and path.endswith(".py"):
            found.update(m.lower() for m in _PY_IMPORT.findall(text))
        elif language == "javascript" and path.endswith((".js", ".mjs", ".cjs", ".jsx", ".ts")):
            found.update(m.split("/")[0].lstrip("@").lower() for m in _JS_IMPORT.findall(text))
        elif language == "go" and path.endswith(".go"):
            found.update(_go_name(m) for m in _GO_IMPORT.findall(text))
    return found


def _go_name(module: str) -> str:
    """`github.com/gin-gonic/gin` → gin; `github.com/labstack/echo/v4` → echo."""
    parts = [p for p in module.split("/") if not re.fullmatch(r"v\d+", p)]
    return parts[-1].lower()


def _manifest(files: dict[str, str]) -> set[str]:
    found: set[str] = set()
    for path, text in files.items():
        name = path.rsplit("/", 1)[-1]
        if name == "package.json":
            try:
                data = json.loads(text)
            except ValueError:
                continue
            for key in ("dependencies", "devDependencies"):
                deps = data.get(key) if isinstance(data, dict) else None
                if isinstance(deps, dict):
                    found.update(k.split("/")[0].lstrip("@").lower() for k in deps)
        elif name.startswith("requirements") and name.endswith(".txt"):
            for line in text.splitlines():
                m = re.match(r"\s*([A-Za-z0-9_.-]+)", line)
                if m and not line.lstrip().startswith("#"):
                    found.add(m.group(1).lower())
        elif name == "go.mod":
            found.update(
                _go_name(m)
                for m in re.findall(
                    r"^\s*(?:require\s+)?([\w.-]+/[\w./-]+)\s+v", text, re.MULTILINE
                )
            )
    return found
