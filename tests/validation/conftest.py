"""A real validation mesh: the bubblewrap sandbox and the installed toolchain."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.sandbox import Limits, Sandbox
from validation.mesh import ValidationMesh
from validation.toolchain import Toolchain


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    tc = Toolchain.at(Path(os.environ.get("WEAVERGEN_TOOLCHAIN_DIR", "/opt/weavergen/toolchain")))
    missing = tc.missing()
    if missing:
        raise RuntimeError("sandbox toolchain incomplete: " + "; ".join(missing))
    return tc


@pytest.fixture(scope="session")
def mesh_factory(toolchain: Toolchain) -> Callable[[Limits], ValidationMesh]:
    def make(limits: Limits) -> ValidationMesh:
        return ValidationMesh(Sandbox(read_only=toolchain.read_only_paths()), toolchain,
                              limits=limits)
    return make


@pytest.fixture(scope="session")
def mesh(mesh_factory: Callable[[Limits], ValidationMesh]) -> ValidationMesh:
    return mesh_factory(Limits())
