"""Where the sandbox finds its tools: Python linters and pytest, node and eslint, Go."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Toolchain:
    """Paths of the tools that run inside the sandbox (installed by make)."""

    root: Path
    go_root: Path

    @classmethod
    def at(cls, root: Path) -> Toolchain:
        """The toolchain installed in `root`, with Go from the machine or Debian."""
        go = shutil.which("go") or "/usr/local/go/bin/go"
        go_root = Path(go).resolve().parent.parent
        return cls(root=root, go_root=go_root)

    @property
    def python(self) -> str:
        return str(self.root / "python" / "bin" / "python")

    @property
    def ruff(self) -> str:
        return str(self.root / "python" / "bin" / "ruff")

    @property
    def mypy_cache(self) -> str:
        return str(self.root / "mypy-cache")

    @property
    def node(self) -> str:
        return shutil.which("node") or "/usr/bin/node"

    @property
    def eslint(self) -> str:
        return str(self.root / "node" / "node_modules" / "eslint" / "bin" / "eslint.js")

    @property
    def eslint_config(self) -> str:
        return str(self.root / "node" / "eslint.config.mjs")

    @property
    def go(self) -> str:
        return str(self.go_root / "bin" / "go")

    @property
    def gofmt(self) -> str:
        return str(self.go_root / "bin" / "gofmt")

    @property
    def go_cache(self) -> str:
        """Go's warm build cache: `wgcache` (a GOCACHEPROG) and its read-only `seed`."""
        return str(self.root / "go-cache")

    def read_only_paths(self) -> list[Path]:
        """Paths to bind read-only into the sandbox."""
        paths = [self.root]
        if not str(self.go_root).startswith("/usr/"):
            paths.append(self.go_root)
        node = Path(self.node).resolve()
        if not str(node).startswith("/usr/"):
            paths.append(node.parent)
        return paths

    def missing(self) -> list[str]:
        """Tools that are not installed, as sentences."""
        out = []
        for label, path in (
            ("python tools", self.python),
            ("ruff", self.ruff),
            ("eslint", self.eslint),
            ("node", self.node),
            ("go", self.go),
        ):
            if not Path(path).exists():
                out.append(f"{label} not found at {path}; run make install")
        return out
