"""The real validation mesh the benches judge code with: the bubblewrap sandbox and the
installed toolchain (`WEAVERGEN_TOOLCHAIN_DIR`, default /opt/weavergen/toolchain); its fork
servers unless `WEAVERGEN_SANDBOX_FORK_SERVER=false`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from validation.mesh import ValidationMesh

DEFAULT_TOOLCHAIN = "/opt/weavergen/toolchain"


def default_mesh() -> ValidationMesh:
    """The real mesh: the bubblewrap sandbox with the installed toolchain."""
    from adapters.sandbox import Sandbox
    from validation.mesh import ValidationMesh
    from validation.tool_paths import Toolchain

    toolchain = Toolchain.at(Path(os.environ.get("WEAVERGEN_TOOLCHAIN_DIR", DEFAULT_TOOLCHAIN)))
    for label, tool in (("python tools", toolchain.python), ("ruff", toolchain.ruff)):
        if not Path(tool).exists():
            raise RuntimeError(f"{label} not found at {tool}; run make install")
    forks = os.environ.get("WEAVERGEN_SANDBOX_FORK_SERVER", "true").lower() not in ("0", "false")
    sandbox = Sandbox(read_only=toolchain.read_only_paths(), fork_server=forks)
    sandbox.check()
    return ValidationMesh(sandbox, toolchain)
